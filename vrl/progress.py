"""The training stages' progress bar: one bar per stage with its real total.

Lightning's bar counts batches per epoch and titles itself `Epoch 0/-2` (max_epochs=-1) with a
total of `--` when the loader has no length (RL); a stage is counted in its own steps instead:
SFT in optimizer steps (of `max_steps`, or the estimate from `max_epochs`), RL in RL steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lightning.pytorch.callbacks import RichProgressBar

Count = Callable[[Any, Any], int]  # (trainer, module) -> steps


class StageProgressBar(RichProgressBar):
    """Rich progress over the whole stage: `<title> k/N`, one bar across epochs.

    Args:
        title: the bar's label (the stage's name).
        total: `total(trainer, module)`, the steps the stage will take.
        done: `done(trainer, module)`, the steps taken so far (a resumed stage starts there).
    """

    def __init__(self, title: str, total: Count, done: Count) -> None:
        super().__init__(leave=True)
        self.title, self._total, self._done = title, total, done

    @property
    def total_train_batches(self) -> int:  # type: ignore[override]
        return int(self._total(self.trainer, self.trainer.lightning_module))

    def _get_train_description(self, current_epoch: int) -> str:
        return self.title

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self.train_progress_bar_id is None:  # once: the bar spans every epoch
            super().on_train_epoch_start(trainer, pl_module)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._update(self.train_progress_bar_id, int(self._done(trainer, pl_module)))
