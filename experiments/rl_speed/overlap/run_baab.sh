#!/bin/bash
# A record of the runs in README.md (paths of this machine: /tmp/p5_base from the SFT command there).
# Second round, BAAB, 25 steps, seed 0 (after the other sessions' load dropped).
set -u
export OMP_NUM_THREADS=1
run() {  # name staleness
  cd /work/wt/p5 && uptime > /tmp/p5_meas/$1.uptime && nice /work/wt/p5/.venv/bin/python -m vrl 'stages=[rl]' \
    products.model=/tmp/p5_base/sft/model products.train_data=/tmp/p5_base/data/train \
    stage.rl.max_steps=25 seed=0 stage.rl.max_staleness=$2 logger=csv \
    trainer.enable_progress_bar=false '+trainer.callbacks=[{_target_: vrl.trainer.StepTimer}]' \
    hydra.run.dir=/tmp/p5_meas/$1 > /tmp/p5_meas/$1.log 2>&1
  echo "$1 rc=$? $(date -u +%T)" >> /tmp/p5_meas/progress
  uptime >> /tmp/p5_meas/$1.uptime
}
run r2_overlap_a 1
run r2_sync_a 0
run r2_sync_b 0
run r2_overlap_b 1
