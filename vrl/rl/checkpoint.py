"""`RLCheckpoint`: `last.ckpt` every N RL steps (the optimizer may step several times per RL
step, so Lightning's `ModelCheckpoint(every_n_train_steps=...)`, which counts optimizer
steps, would not line up with RL steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback


class RLCheckpoint(Callback):
    """Saves `<dirpath>/last.ckpt` (replaced whole) after every `every_n_steps`-th RL step and at the end."""

    def __init__(self, dirpath: Path, every_n_steps: int) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = max(1, int(every_n_steps))
        self._saved_at = -1

    @property
    def last(self) -> Path:
        return self.dirpath / "last.ckpt"

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = pl_module.rl_step
        if step % self.every_n_steps == 0 or step >= pl_module.max_steps:
            self._save(trainer, step)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._save(trainer, pl_module.rl_step)

    def save_now(self, trainer: Any) -> Path:
        """Save `last.ckpt` now (a stop signal; `vrl.interrupt.StopOnSignal`); its path."""
        step = trainer.lightning_module.rl_step
        if step != self._saved_at or not self.last.exists():
            self._save(trainer, step, force=True)
        return self.last

    def _save(self, trainer: Any, step: int, force: bool = False) -> None:
        if not force and (step == self._saved_at or step == 0):
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        tmp = self.dirpath / "last.ckpt.tmp"
        trainer.save_checkpoint(str(tmp))  # a collective (every rank's RNGs, sharded weights); rank 0 writes
        if trainer.is_global_zero:
            tmp.replace(self.last)
        trainer.strategy.barrier("vrl-rl-checkpoint")
        self._saved_at = step
