"""Lightning Trainer settings shared by the training stages (`trainer` config group)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from vrl.progress import Count, StageProgressBar

VRL_STRATEGIES = ("fsdp2",)  # strategy names TrainerSettings builds itself (not Lightning's registry)


class TrainerSettings:
    """Hardware and numerics of every Lightning Trainer vrl builds; stages add the schedule.

    Args:
        accelerator: "cpu", "gpu", "auto".
        devices: number of devices per node (or "auto").
        num_nodes: nodes for multi-node training.
        strategy: "auto", "ddp", "fsdp", "deepspeed_stage_2", ... (any Lightning strategy name),
            or "fsdp2": PyTorch's `fully_shard` through Lightning's `ModelParallelStrategy`, which
            also runs on CPU (gloo), where Lightning's "fsdp" (FSDP1) refuses to.
        precision: "32-true", "bf16-mixed", "bf16-true", "16-mixed".
        deterministic: make CUDA/cuDNN ops deterministic (slower).
        enable_progress_bar: rich progress bars during training.
        fsdp_wrap_layers: with strategy "fsdp" or "fsdp2", dotted class paths of the blocks to
            wrap as FSDP units (e.g. the decoder layer); None = Lightning's default policy
            ("fsdp") or the whole model as one unit ("fsdp2").
        callbacks: extra Lightning callbacks of every training stage (side effects only:
            timing, logging), e.g. `+trainer.callbacks=[{_target_: vrl.trainer.StepTimer}]`.
    """

    def __init__(
        self,
        accelerator: str = "cpu",
        devices: int | str = 1,
        num_nodes: int = 1,
        strategy: str = "auto",
        precision: str = "32-true",
        deterministic: bool = False,
        enable_progress_bar: bool = True,
        fsdp_wrap_layers: list[str] | None = None,
        callbacks: list[Callback] | None = None,
    ) -> None:
        self.accelerator = accelerator
        self.devices = devices
        self.num_nodes = num_nodes
        self.strategy = strategy
        self.precision = precision
        self.deterministic = deterministic
        self.enable_progress_bar = enable_progress_bar
        self.fsdp_wrap_layers = list(fsdp_wrap_layers or [])
        self.callbacks = list(callbacks or [])

    @property
    def processes(self) -> int:
        """Processes the run trains with (devices per node x nodes); 1 for `devices: auto` on a
        machine without GPUs."""
        return self.devices_per_node * int(self.num_nodes)

    @property
    def devices_per_node(self) -> int:
        if isinstance(self.devices, (list, tuple)):
            return len(self.devices)
        if isinstance(self.devices, int) or str(self.devices).lstrip("-").isdigit():
            count = int(self.devices)
            return count if count > 0 else _gpu_count()
        if self.accelerator in ("gpu", "cuda", "auto"):
            return max(1, _gpu_count())
        return 1

    def build(self, progress: tuple[str, Count, Count] | None = None, **schedule: Any) -> L.Trainer:
        """A Trainer with these settings plus the stage's schedule (max_steps, callbacks, ...);
        `progress` = (title, total, done) of the stage's bar (`vrl.progress.StageProgressBar`)."""
        from lightning.pytorch.callbacks import RichProgressBar

        from vrl.distributed import world

        callbacks = [*schedule.pop("callbacks", []), *self.callbacks]
        if self.enable_progress_bar:
            callbacks.append(StageProgressBar(*progress) if progress else RichProgressBar(leave=True))
        if world().launcher == "slurm":
            from lightning.fabric.plugins.environments import SLURMEnvironment

            # vrl's own signal handling checkpoints and requeues (vrl.interrupt); Lightning's
            # SLURM auto-requeue (SIGUSR1) would save and requeue a second time.
            schedule.setdefault("plugins", []).append(SLURMEnvironment(auto_requeue=False))
        return L.Trainer(
            accelerator=self.accelerator,
            devices=self.devices,
            num_nodes=self.num_nodes,
            strategy=self._strategy(),
            precision=self.precision,
            deterministic=self.deterministic,
            enable_progress_bar=self.enable_progress_bar,
            enable_model_summary=False,
            callbacks=callbacks,
            **schedule,
        )

    def _strategy(self) -> Any:
        if self.strategy == "fsdp2":
            return FSDP2Strategy(self.fsdp_wrap_layers, self.processes)
        if self.strategy != "fsdp" or not self.fsdp_wrap_layers:
            return self.strategy
        from hydra.utils import get_class
        from lightning.pytorch.strategies import FSDPStrategy

        return FSDPStrategy(auto_wrap_policy={get_class(path) for path in self.fsdp_wrap_layers})


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _model_parallel_strategy() -> type:
    from lightning.pytorch.strategies import ModelParallelStrategy

    return ModelParallelStrategy


class FSDP2Strategy(_model_parallel_strategy()):  # type: ignore[misc]
    """Lightning's `ModelParallelStrategy` (FSDP2, `fully_shard`) that shards the modules of
    `wrap_layers`; vrl's LightningModules call `shard(model)` from `configure_model`. One
    checkpoint file (gathered on rank 0), like the other strategies, so resume is uniform.

    Args:
        wrap_layers: dotted class paths of the blocks that become FSDP units.
        processes: data-parallel size (all processes shard one model; no tensor parallelism).
    """

    def __init__(self, wrap_layers: list[str], processes: int) -> None:
        super().__init__(
            data_parallel_size=processes, tensor_parallel_size=1, save_distributed_checkpoint=False
        )
        self.wrap_layers = list(wrap_layers)

    def shard(self, model: Any) -> int:
        return shard_model(model, self.wrap_layers, self.device_mesh["data_parallel"])

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        """As Lightning's, but a full pickle load unless told otherwise: Lightning (2.6) drops
        `fit(..., weights_only=False)` on this strategy's path (it restores after setup without
        passing it on), and vrl's own checkpoints hold RNG states and replay trajectories, which
        the stages load with `weights_only=False` (tests/rl/test_rl_fsdp2_on_cpu.py resumes)."""
        return super().load_checkpoint(
            checkpoint_path, weights_only=False if weights_only is None else weights_only
        )


class StepTimer(Callback):
    """Wall and CPU seconds of every training step, written to `<stage dir>/step_times.json`.

    A step is a batch after which the optimizer stepped (`trainer.global_step` moved: an RL
    step, or an SFT step after its accumulated micro-batches). Its wall time runs from the end
    of the previous step (or the start of training) to the end of this one, so it includes data
    loading and framework overhead; CPU time is this process's. The module's own `timing_s/*` metrics of the step (RL: rollout, reward, update,
    ...) are kept beside them. One file per stage: the timer restarts at every fit.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.record: dict[str, Any] = {
            "train_start_unix_s": time.time(),
            "wall_s": [],
            "cpu_s": [],
            "phases": {},
        }
        self._last, self._last_cpu = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        metrics = trainer.callback_metrics
        if "timing_s/step" in metrics or "timing_s/step" not in self.record["phases"]:
            self.record["wall_s"].append(now - self._last)
            self.record["cpu_s"].append(cpu - self._last_cpu)
            for key, value in metrics.items():
                if key.startswith("timing_s/") or key == "rollout/response_length_mean":
                    self.record["phases"].setdefault(key, []).append(float(value))
        self._last, self._last_cpu = now, cpu

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            path = Path(trainer.default_root_dir) / "step_times.json"
            path.write_text(json.dumps(self.record, indent=1))


def log_step_metrics(trainer: L.Trainer, metrics: dict[str, float]) -> None:
    """Log one training step's scalars as `LightningModule.log_dict(metrics, on_step=True,
    on_epoch=False)` would (into `trainer.callback_metrics`; to every logger at the step
    Lightning would use, `_batches_that_stepped`, with its `epoch` key, every
    `log_every_n_steps` steps and on the stopping step) without its cost: Lightning's
    result collection moves each key's accumulator to the device on every call, ~1 ms a key, and
    an RL step logs ~45 keys (41-44 ms of a ~1.1 s CPU step, experiments/rl_speed). Values are
    already reduced over the ranks (nothing to sync); only rank 0's loggers write."""
    import torch

    connector = trainer._logger_connector
    values = [float(v) for v in metrics.values()]
    # One tensor, each key a 0-dim float32 view of it (as `torch.tensor(value)` would be):
    # 0.04 against 0.23 ms for 45 keys.
    connector._callback_metrics.update(zip(metrics, torch.tensor(values, dtype=torch.float32).unbind()))
    if connector.should_update_logs or trainer.fast_dev_run:  # Lightning's own rule
        connector.log_metrics(dict(zip(metrics, values)))


# -- the optimizer -------------------------------------------------------------------------------


def adamw(parameters: Any, *, lr: float, weight_decay: float) -> Any:
    """`torch.optim.AdamW` over `parameters`, with PyTorch's fused kernel where it applies.

    The fused step is one kernel per parameter group instead of ~10 ops per tensor: on the tiny
    default's 57 tensors 1.3 ms against 7.8 ms a step on one CPU core (`experiments/rl_speed/`),
    the same update to float rounding. Where it does not apply (sharded DTensor parameters of
    FSDP2, a device without the kernel, non-float parameters) the stock implementation runs."""
    import torch
    from torch.distributed.tensor import DTensor
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    params = list(parameters)
    fused = bool(params) and all(
        type(p) is not DTensor
        and not isinstance(p.data, DTensor)
        and p.is_floating_point()
        and p.device.type in _get_fused_kernels_supported_devices()
        for p in params
    )
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


# -- random number generators -------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Every global RNG a training step may draw on: torch (CPU and CUDA), Python, NumPy."""
    import random

    import numpy as np
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore `rng_state()`'s output."""
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_rank(seed: int, rank: int) -> None:
    """Give rank `rank` its own stream of every global RNG (rank 0 keeps `seed`'s own, so one
    process draws what it always drew)."""
    import lightning as L

    if rank:
        L.seed_everything(seed + 1_000_003 * rank, workers=True, verbose=False)


# -- sharding a model (FSDP2 on any device) -----------------------------------------------------


def shard_model(model: Any, layer_classes: list[str], mesh: Any) -> int:
    """`fully_shard` every module of `layer_classes` (dotted paths), then the whole model, over
    `mesh` (Lightning's `ModelParallelStrategy` data-parallel mesh); returns the units made.
    Call it from a LightningModule's `configure_model`."""
    from hydra.utils import get_class
    from torch.distributed.fsdp import fully_shard

    classes = tuple(get_class(path) for path in layer_classes)
    units = [m for m in model.modules() if classes and isinstance(m, classes)]
    for module in units:
        fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return len(units) + 1
