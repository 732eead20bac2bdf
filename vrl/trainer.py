"""Lightning Trainer settings shared by the training stages (`trainer` config group)."""

from __future__ import annotations

from typing import Any

import lightning as L


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
    ) -> None:
        self.accelerator = accelerator
        self.devices = devices
        self.num_nodes = num_nodes
        self.strategy = strategy
        self.precision = precision
        self.deterministic = deterministic
        self.enable_progress_bar = enable_progress_bar
        self.fsdp_wrap_layers = list(fsdp_wrap_layers or [])

    def build(self, **schedule: Any) -> L.Trainer:
        """A Trainer with these settings plus the stage's schedule (max_steps, callbacks, ...)."""
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks = list(schedule.pop("callbacks", []))
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
