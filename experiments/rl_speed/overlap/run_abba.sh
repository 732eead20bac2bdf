#!/bin/bash
# A record of the runs in README.md (paths of this machine: /tmp/p5_base from the SFT command there).
# ABBA: sync seed0, overlap seed0, overlap seed1, sync seed1; then main's code, sync seed0.
set -u
export OMP_NUM_THREADS=1
run() {  # name staleness seed repo
  cd $4 && uptime > /tmp/p5_meas/$1.uptime && nice /work/wt/p5/.venv/bin/python -m vrl 'stages=[rl]' \
    products.model=/tmp/p5_base/sft/model products.train_data=/tmp/p5_base/data/train \
    stage.rl.max_steps=60 seed=$3 $( [ $2 = main ] || echo stage.rl.max_staleness=$2 ) logger=csv \
    trainer.enable_progress_bar=false '+trainer.callbacks=[{_target_: vrl.trainer.StepTimer}]' \
    hydra.run.dir=/tmp/p5_meas/$1 > /tmp/p5_meas/$1.log 2>&1
  echo "$1 rc=$? $(date -u +%T)" >> /tmp/p5_meas/progress
  uptime >> /tmp/p5_meas/$1.uptime
}
run sync_s0 0 0 /work/wt/p5
run overlap_s0 1 0 /work/wt/p5
run overlap_s1 1 1 /work/wt/p5
run sync_s1 0 1 /work/wt/p5
run main_sync_s0 main 0 /tmp/p5_main_src
