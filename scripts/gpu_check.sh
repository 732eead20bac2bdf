#!/usr/bin/env bash
# The GPU check, from the repo root on a machine with one CUDA GPU (H100/H200; ~3-5 minutes):
#
#   bash scripts/gpu_check.sh               # 7B-shaped RL + SFT step, then the gpu test lane
#   bash scripts/gpu_check.sh --cpu-tiny    # the same steps on the tiny model on CPU (tests/test_gpu_check_script.py)
#
# 1. Packages the GPU image lacks (hydra-core, omegaconf, datasets, submitit, math-verify, wandb and
#    what they need beyond the image) come from ./wheels when it exists: make it here with
#    `bash scripts/gpu_wheels.sh`. They go to their own folder on PYTHONPATH, never into the image.
# 2. scripts/gpu_check.py: one RL step (hf rollouts, dr_grpo) and one SFT step of a Qwen2.5-VL with
#    the 7B config and random weights, bf16, FSDP2 on one GPU, gradient checkpointing; prints peak
#    memory, step time and actor-update MFU (formula in its docstring); JSON to $OUT_DIR/gpu_check.json.
# 3. pytest -m gpu: the tests that need CUDA (skipped elsewhere).
# Env: PYTHON (default python3), OUT_DIR (default .), SITE (default /tmp/vrl-site).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT_DIR=${OUT_DIR:-.}
SITE=${SITE:-/tmp/vrl-site}
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false

mode=(--device cuda)
if [[ "${1:-}" == "--cpu-tiny" ]]; then
  # Same entry point at vrl's tiny size: checks the script, not the GPU (no memory, no MFU).
  mode=(--device cpu --tiny --prompts 2 --group 2 --new-tokens 8 --micro-batch 2 --sft-batch 2
        --sft-max-length 256 --image-size 56 --peak-tflops 1)
elif ! "$PYTHON" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
  echo "gpu_check: torch sees no CUDA device here; run it on a GPU machine, or with --cpu-tiny" >&2
  exit 2
fi

if [[ "${mode[1]}" == cuda && -d wheels ]] && compgen -G "wheels/*.whl" >/dev/null; then
  # --no-deps: wheels/ holds exactly what the image lacks (scripts/gpu_wheels.sh picks it).
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" wheels/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi

start=$(date +%s)
timeout 480 "$PYTHON" scripts/gpu_check.py "${mode[@]}" --out "$OUT_DIR/gpu_check.json"
echo "gpu_check: steps done in $(( $(date +%s) - start )) s; figures in $OUT_DIR/gpu_check.json"

# The gpu lane: every test marked gpu (skipped without CUDA; the whole lane is quick).
timeout 240 "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider tests
