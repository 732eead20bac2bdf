"""Lightning Trainer settings shared by the training stages (`trainer` config group)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback


class TrainerSettings:
    """Hardware and numerics of every Lightning Trainer vrl builds; stages add the schedule.

    Args:
        accelerator: "cpu", "gpu", "auto".
        devices: number of devices per node (or "auto").
        num_nodes: nodes for multi-node training.
        strategy: "auto", "ddp", "fsdp", "deepspeed_stage_2", ... (any Lightning strategy name).
        precision: "32-true", "bf16-mixed", "bf16-true", "16-mixed".
        deterministic: make CUDA/cuDNN ops deterministic (slower).
        enable_progress_bar: rich progress bars during training.
        fsdp_wrap_layers: with strategy "fsdp", dotted class paths of the blocks to wrap as
            FSDP units (e.g. the decoder layer); None = Lightning's default policy.
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

    def build(self, **schedule: Any) -> L.Trainer:
        """A Trainer with these settings plus the stage's schedule (max_steps, callbacks, ...)."""
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks = [*schedule.pop("callbacks", []), *self.callbacks]
        if self.enable_progress_bar:
            callbacks.append(RichProgressBar(leave=True))
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
        if self.strategy != "fsdp" or not self.fsdp_wrap_layers:
            return self.strategy
        from hydra.utils import get_class
        from lightning.pytorch.strategies import FSDPStrategy

        return FSDPStrategy(auto_wrap_policy={get_class(path) for path in self.fsdp_wrap_layers})


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
