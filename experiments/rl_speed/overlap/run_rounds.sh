#!/bin/bash
# The RL runs of README.md, one after another, each a `python -m vrl 'stages=[rl]'` from the
# 500-step SFT start /tmp/p5_base (the SFT command in README.md):
#
#   run_rounds.sh OUT_DIR STEPS NAME:STALENESS:SEED[:REPO] ...
#
# STALENESS 0 / 1 (`stage.rl.max_staleness`), or `main` for code without that key; REPO (default:
# this repository) is the checkout whose code runs. NICE=nice runs them niced (rounds 1-2, which
# shared the machine). The rounds as run:
#   round 1, ABBA: NICE=nice run_rounds.sh /tmp/p5_meas 60 sync_s0:0:0 overlap_s0:1:0 overlap_s1:1:1 \
#                  sync_s1:0:1 main_sync_s0:main:0:/tmp/p5_main_src
#   round 2, BAAB: NICE=nice run_rounds.sh /tmp/p5_meas 25 r2_overlap_a:1:0 r2_sync_a:0:0 r2_sync_b:0:0 r2_overlap_b:1:0
#   round 3, ABBA, idle machine: run_rounds.sh /tmp/p5_idle 30 r3_sync_a:0:0 r3_overlap_a:1:0 r3_overlap_b:1:0 r3_sync_b:0:0
set -u
export OMP_NUM_THREADS=1
root="$(cd "$(dirname "$0")/../../.." && pwd)"
out=$1 steps=$2
shift 2
mkdir -p "$out"
for spec in "$@"; do
  IFS=: read -r name staleness seed repo <<< "$spec"
  key=$([ "$staleness" = main ] || echo "stage.rl.max_staleness=$staleness")
  uptime > "$out/$name.uptime"
  (cd "${repo:-$root}" && ${NICE:-} "$root/.venv/bin/python" -m vrl 'stages=[rl]' \
    products.model=/tmp/p5_base/sft/model products.train_data=/tmp/p5_base/data/train \
    stage.rl.max_steps="$steps" seed="$seed" $key logger=csv \
    trainer.enable_progress_bar=false '+trainer.callbacks=[{_target_: vrl.trainer.StepTimer}]' \
    hydra.run.dir="$out/$name" > "$out/$name.log" 2>&1)
  echo "$name rc=$? $(date -u +%T)" >> "$out/progress"
  uptime >> "$out/$name.uptime"
done
