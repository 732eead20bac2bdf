"""Pre-flight checks of what the stages need from the machine and from outside the config.

`vrl.run.preflight` and the stages' `check` methods call these before the first stage runs, so
a missing GPU, a missing package, an unwritable run directory, a corrupt checkpoint or a
dataset that is not one is a one-line `ConfigError` / `MissingFileError` naming the key and
the fix, never a traceback after an hour of SFT.
"""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vrl.errors import ConfigError, MissingFileError

# Lightning's accelerator names, and its precision values (lightning.fabric.connector).
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")
PRECISIONS = (
    "transformer-engine",
    "transformer-engine-float16",
    "16-true",
    "16-mixed",
    "bf16-true",
    "bf16-mixed",
    "32-true",
    "64-true",
    "64",
    "32",
    "16",
    "bf16",
)


# -- the run directory --------------------------------------------------------------------------


def check_run_dir(run_dir: Path) -> None:
    """Create `run_dir` and write a file in it, or say in one line why that is impossible."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".vrl-write-test-{uuid.uuid4().hex[:8]}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"cannot use {run_dir} as the run directory ({reason}: {error.filename or run_dir}); "
            "set hydra.run.dir (or paths.run_dir) to a writable directory"
        ) from None


# -- hardware and packages ----------------------------------------------------------------------


def check_trainer(trainer: Any) -> None:
    """The trainer's accelerator, devices, precision and strategy exist on this machine."""
    import torch
    from lightning.pytorch.strategies import StrategyRegistry

    from vrl.trainer import VRL_STRATEGIES

    accelerator = str(trainer.accelerator).lower()
    if accelerator not in ACCELERATORS:
        raise ConfigError(
            f"trainer.accelerator={trainer.accelerator!r} is not one of {', '.join(ACCELERATORS)}"
        )
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if accelerator in ("gpu", "cuda") and not gpus:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise ConfigError(
            f"trainer.accelerator={accelerator} needs a CUDA GPU and this machine shows none (torch "
            f"{torch.__version__}{f', CUDA_VISIBLE_DEVICES={visible}' if visible is not None else ''}): "
            "use trainer=cpu here, or run on a GPU node"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "trainer.accelerator=mps needs Apple's MPS, which is not available: use trainer=cpu"
        )
    if accelerator == "tpu":
        raise ConfigError("trainer.accelerator=tpu is not supported by vrl: use trainer=gpu or trainer=cpu")
    devices = trainer.devices
    if isinstance(devices, bool) or not (
        (isinstance(devices, int) and (devices >= 1 or devices == -1))
        or (isinstance(devices, str) and (devices in ("auto", "-1") or _int_list(devices)))
        or (isinstance(devices, (list, tuple)) and devices and all(isinstance(d, int) for d in devices))
    ):
        raise ConfigError(
            f"trainer.devices={devices!r} must be a count >= 1, -1 or auto (all), or a list of device ids"
        )
    if accelerator in ("gpu", "cuda") and isinstance(devices, int) and devices > gpus:
        raise ConfigError(
            f"trainer.devices={devices} but this machine shows {gpus} GPU(s): lower it or use auto"
        )
    if isinstance(trainer.num_nodes, bool) or not isinstance(trainer.num_nodes, int) or trainer.num_nodes < 1:
        raise ConfigError(f"trainer.num_nodes={trainer.num_nodes!r} must be an integer >= 1")
    if str(trainer.precision) not in PRECISIONS:
        raise ConfigError(f"trainer.precision={trainer.precision!r} is not one of {', '.join(PRECISIONS)}")
    if accelerator == "cpu" and str(trainer.precision) in ("16-mixed", "16"):
        raise ConfigError(
            f"trainer.precision={trainer.precision} does not run on CPU: use 32-true or bf16-mixed"
        )
    strategy = trainer.strategy
    if isinstance(strategy, str):
        known = {"auto", *VRL_STRATEGIES, *StrategyRegistry.available_strategies()}
        if strategy not in known:
            raise ConfigError(
                f"trainer.strategy={strategy!r} is not a Lightning or vrl strategy (e.g. auto, ddp, fsdp, "
                "fsdp2, deepspeed_stage_2)"
            )
        if strategy.startswith("deepspeed") and not installed("deepspeed"):
            raise ConfigError(
                f"trainer.strategy={strategy} needs the deepspeed package: pip install deepspeed, or use fsdp"
            )


def _int_list(text: str) -> bool:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return bool(parts) and all(p.isdigit() for p in parts)


def installed(package: str) -> bool:
    """`package` can be imported: a real package or module, not a directory of the same name on
    the path (e.g. a `vllm/` test folder would pass as a namespace package)."""
    spec = importlib.util.find_spec(package)
    return spec is not None and spec.origin is not None


def check_rollout(engine: Any) -> None:
    """The engine's optional package is installed (`rollout=vllm` needs vllm)."""
    from vrl.rollout.vllm import VLLMRolloutEngine

    if isinstance(engine, VLLMRolloutEngine) and not installed("vllm"):
        raise ConfigError(
            "rollout=vllm needs the vllm package, which is not installed here: pip install -e '.[vllm]' "
            "on a GPU machine (scripts/setup_vllm_cpu.sh on CPU), or use rollout=hf"
        )


def check_engine_placement(engine: Any, trainer: Any) -> None:
    """The rollout engines tile the trainer's ranks: `rollout.tensor_parallel_size` divides the
    GPUs per node and the world size (`vrl.rollout.placement`; `hf` engines are TP 1)."""
    from vrl.rollout.placement import check_engine_layout

    tp = getattr(engine, "tensor_parallel_size", 1)
    if tp == 1:
        return  # one engine per rank fits any layout
    check_engine_layout(trainer.processes, tp, trainer.devices_per_node)


# -- models, datasets and benchmarks from outside the run -----------------------------------------


def check_model_environment(spec: Any) -> None:
    """What loading the model needs from this machine (flash-attn for flash_attention_2)."""
    from vrl.model.base import check_environment

    attn = getattr(spec, "attn_implementation", None)
    if isinstance(attn, str):
        check_environment(attn)


def check_model_source(spec: Any) -> None:
    """The configured model can be had: a local checkpoint that is one, or a hub id that is in the
    local cache or reachable. Built models (the tiny one) need nothing."""
    from vrl.model import PretrainedVLM
    from vrl.model.pretrained import check_checkpoint, check_hub_repo, looks_local

    if not isinstance(spec, PretrainedVLM):
        return
    if looks_local(spec.path):
        check_checkpoint(spec.path, "model.path")
    else:
        check_hub_repo(spec.path, "model.path", repo_type="model")


def check_benchmarks(benchmarks: Mapping[str, Any]) -> None:
    """Every benchmark's data can be had: a local copy that exists, or a hub id that is cached or
    reachable (else eval would fail after training)."""
    from vrl.model.pretrained import check_hub_repo

    for name, benchmark in benchmarks.items():
        limit = getattr(benchmark, "limit", None)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError(f"benchmark.{name}.limit={limit!r} must be >= 1 or null (all items)")
        path = getattr(benchmark, "path", None)
        if not isinstance(path, str) or not path:
            continue
        key = f"benchmark.{name}.path"
        local = Path(path).expanduser()
        if local.exists():
            continue
        if path.startswith(("/", ".", "~")) or path.count("/") != 1 or local.suffix:
            raise MissingFileError(
                f"{key}={path} does not exist: point it at a local copy (save_to_disk folder, "
                "parquet/json/jsonl) or at the hub id"
            )
        check_hub_repo(path, key, repo_type="dataset")


# Columns `Sample.from_record` cannot do without.
SAMPLE_COLUMNS = ("id", "prompt", "answer")


def check_sample_dataset(path: Path, key: str) -> None:
    """`path` is a dataset saved with `save_to_disk` in vrl's sample schema."""
    if not path.is_dir():
        raise MissingFileError(f"{key}={path} is not a directory; give the folder a data stage wrote")
    if not (path / "state.json").is_file():
        raise MissingFileError(
            f"{key}={path} is not a saved dataset (no state.json): give the train/val folder a data "
            "stage wrote (<run>/data/train), or any `Dataset.save_to_disk` folder in vrl's sample schema"
        )
    try:
        info = json.loads((path / "dataset_info.json").read_text())
    except (OSError, ValueError):
        return  # datasets writes it; without it the columns are checked when the stage loads
    columns = set((info.get("features") or {}).keys())
    missing = [c for c in SAMPLE_COLUMNS if c not in columns]
    if missing:
        raise ConfigError(
            f"{key}={path} lacks the sample column(s) {', '.join(missing)} (it has: "
            f"{', '.join(sorted(columns)) or 'none'}); make it with a data stage (data=[hf|jsonl|parquet])"
        )


def check_given_products(
    stages: Mapping[str, Any], given: Mapping[str, str], declared: Iterable[str] = ()
) -> None:
    """Products given from outside (`products.<key>=<path>`) are used by a stage, exist, and are
    what they claim: `model` a checkpoint, a stage's dataset a saved sample dataset. A product
    key a stage reads that no stage makes and `products` does not declare is a typo."""
    from vrl.model.pretrained import check_checkpoint

    used = {key for stage in stages.values() for key in (*stage.requires, *stage.reads)}
    made = {key for stage in stages.values() for key in stage.writes}
    datasets = {
        getattr(stage.settings, name)
        for stage in stages.values()
        for name in ("dataset", "val_dataset")
        if getattr(getattr(stage, "settings", None), name, None)
    }
    for key, value in given.items():
        if key not in used:
            raise ConfigError(
                f"products.{key}={value} is not a product any stage of this run uses (they use: "
                f"{', '.join(sorted(used)) or 'none'}); fix the key or drop it"
            )
        path = Path(value).expanduser()
        if not path.exists():
            raise MissingFileError(f"products.{key}={value} does not exist: fix the path or re-run its stage")
        if key == "model":
            check_checkpoint(str(path), f"products.{key}")
        elif key in datasets:
            check_sample_dataset(path, f"products.{key}")
    known = set(given) | made | set(declared)
    for name, stage in stages.items():
        settings = getattr(stage, "settings", None)
        for field in ("dataset", "val_dataset"):
            key = getattr(settings, field, None)
            if key and key not in known:
                raise ConfigError(
                    f"stage.{name}.{field}={key!r} is a product no stage of this run makes and products "
                    f"does not give (known: {', '.join(sorted(known))}); fix the key"
                    + (" or set it to null" if field == "val_dataset" else "")
                )
