#!/bin/bash
# Third round, ABBA, 30 steps, seed 0, on the idle machine (nothing else running), main 402fc53.
set -u
export OMP_NUM_THREADS=1
run() {  # name staleness
  cd /work/main && uptime > /tmp/p5_idle/$1.uptime && /work/main/.venv/bin/python -m vrl 'stages=[rl]' \
    products.model=/tmp/p5_base/sft/model products.train_data=/tmp/p5_base/data/train \
    stage.rl.max_steps=30 seed=0 stage.rl.max_staleness=$2 logger=csv \
    trainer.enable_progress_bar=false '+trainer.callbacks=[{_target_: vrl.trainer.StepTimer}]' \
    hydra.run.dir=/tmp/p5_idle/$1 > /tmp/p5_idle/$1.log 2>&1
  echo "$1 rc=$? $(date -u +%T)" >> /tmp/p5_idle/progress
  uptime >> /tmp/p5_idle/$1.uptime
}
run r3_sync_a 0
run r3_overlap_a 1
run r3_overlap_b 1
run r3_sync_b 0
