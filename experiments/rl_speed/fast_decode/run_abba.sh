#!/usr/bin/env bash
# The default's RL stage, rollout=hf vs rollout=fast, 40 steps each from one SFT model, run
# hf/fast/fast/hf on the otherwise idle machine; per-step phase medians (steps 6-40) from each
# run's metrics.csv: python experiments/rl_speed/fast_decode/phases.py /tmp/fast_abba/*
#   bash experiments/rl_speed/fast_decode/run_abba.sh <sft model dir> <train data dir>
set -euo pipefail
model=$1 data=$2 out=${OUT:-/tmp/fast_abba}
mkdir -p "$out"
i=0
for engine in hf fast fast hf; do
  i=$((i + 1))
  python -m vrl 'stages=[rl]' products.model="$model" products.train_data="$data" rollout=$engine \
    stage.rl.max_steps=40 logger=csv hydra.run.dir="$out/$i-$engine" > "$out/$i-$engine.log" 2>&1
  echo "$i $engine done $(uptime)"
done
