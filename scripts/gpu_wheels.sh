#!/usr/bin/env bash
# Wheels for scripts/gpu_check.sh: vrl's dependencies that the GPU machine's image lacks, at the
# versions of this checkout's venv, for its Python (3.12, x86-64 Linux), into ./wheels (<= 60 MiB).
#
#   bash scripts/gpu_wheels.sh        # here, with network access to PyPI; then carry wheels/ along
#
# Which: the requirement closure of pyproject's [project.dependencies] (hydra-core, omegaconf,
# datasets, submitit, math-verify, wandb, ...) as installed in the venv, minus the packages the
# image already holds (IMAGE below, from the device notes' package list, 2026-11-17; torch,
# transformers, lightning, pyarrow, pandas, ... are there). Every wheel goes with --no-deps, so
# wheels/ holds exactly this list; a pure-Python package published only as an sdist
# (antlr4-python3-runtime, omegaconf's parser) is built into a wheel here.
# Env: PYTHON (default .venv/bin/python, else python3), WHEELS (default wheels), MAX_MIB (60),
# ALSO: image packages to carry anyway at the venv's version (e.g. "transformers huggingface-hub"
# when the image's transformers is too old for vrl; the image's was 5.17, vrl is tested on 5.25).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}
WHEELS=${WHEELS:-wheels}
MAX_MIB=${MAX_MIB:-60}
ALSO=${ALSO:-}
IMAGE="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch
mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro onnx onnx-ir onnxruntime
onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas
pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow
pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov
pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich
sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate
tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp"

# name==version of every package to carry, one a line.
mapfile -t wanted < <(IMAGE="$IMAGE" ALSO="$ALSO" "$PYTHON" - <<'PY'
import os, re, tomllib
from importlib.metadata import PackageNotFoundError, distribution
from packaging.requirements import Requirement

def norm(name): return re.sub(r"[-_.]+", "-", name).lower()
also = {norm(n) for n in os.environ["ALSO"].split()}
image = {norm(n) for n in os.environ["IMAGE"].split()} - also
target = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
roots = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] + sorted(also)
todo, seen, out = [Requirement(r) for r in roots], set(), []
while todo:
    req = todo.pop()
    name = norm(req.name)
    if name in seen or name in image or (req.marker and not req.marker.evaluate(target)):
        continue
    seen.add(name)
    try:
        dist = distribution(req.name)
    except PackageNotFoundError:
        raise SystemExit(f"gpu_wheels: {req.name} is not installed in this venv (make install first)")
    out.append(f"{dist.metadata['Name']}=={dist.version}")
    for sub in dist.requires or []:
        todo.append(Requirement(sub))
print("\n".join(sorted(out, key=str.lower)))
PY
)
echo "gpu_wheels: ${#wanted[@]} packages: ${wanted[*]}"
mkdir -p "$WHEELS"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
for spec in "${wanted[@]}"; do
  if ! "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      "${platforms[@]}" -d "$WHEELS" "$spec" 2>/dev/null; then
    echo "gpu_wheels: no wheel of $spec on PyPI: building one here (pure Python only)"
    "$PYTHON" -m pip wheel -q --no-deps -w "$WHEELS" "$spec"
  fi
done
if compgen -G "$WHEELS/*-cp3[0-9]*-linux_*.whl" >/dev/null; then
  echo "gpu_wheels: a wheel built here is platform-specific and would not install there:" "$WHEELS"/*linux_*.whl >&2
  exit 1
fi
mib=$(( $(du -sk "$WHEELS" | cut -f1) / 1024 ))
echo "gpu_wheels: $(ls "$WHEELS"/*.whl | wc -l) wheels, ${mib} MiB in $WHEELS/"
if (( mib > MAX_MIB )); then
  echo "gpu_wheels: $WHEELS/ is ${mib} MiB, over the ${MAX_MIB} MiB a device call carries; drop what the image has" >&2
  exit 1
fi
