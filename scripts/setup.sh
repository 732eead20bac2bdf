#!/usr/bin/env bash
# Create .venv and install vrl with its dev tools. Idempotent: re-runs only when pyproject changes.
# CPU-only machines get the CPU build of torch first (never the multi-GB CUDA wheels); machines
# with an NVIDIA GPU get the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
stamp="$VENV/.vrl-installed-$(sha1sum pyproject.toml | cut -c1-12)"
[ -f "$stamp" ] && exit 0

# bubblewrap: the strongest sandbox backend for model-written code (vrl.sandbox). Best effort:
# without it `sandbox=auto` falls back to the process backend (rlimits + seccomp + Landlock).
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing bubblewrap (sandbox backend)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
    || echo "setup: bubblewrap not installed; the sandbox will use its process backend"
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found: installing torch==$TORCH_VERSION (CUDA build)"
    pip install -q "torch==$TORCH_VERSION"
  else
    echo "setup: no GPU: installing torch==$TORCH_VERSION CPU build first"
    # TORCH_INDEX=https://download.pytorch.org/whl/cpu on machines without a local CPU wheel.
    pip install -q "torch==$TORCH_VERSION" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
  fi
fi
pip install -q -e ".[dev,lora,bench]"
touch "$stamp"
echo "setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
