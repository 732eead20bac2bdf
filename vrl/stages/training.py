"""What the training stages (SFT, RL) share around `trainer.fit`: resume, signals, loggers.

`resumable_fit` runs `trainer.fit` from `<stage>/checkpoints/last.ckpt` when it exists, with
the two callbacks that make a stop lose nothing (`vrl.interrupt.StopOnSignal`: a checkpoint at
the end of the step a signal arrived in; `vrl.metrics_csv.KeepStepMetrics`: every trained step's
metrics once in `metrics.csv`), and closes the stage's loggers however fit ends (W&B marked
preempted on a signal), so the next start of the stage resumes the same W&B run.
`StepCheckpoint` is the SFT stage's periodic checkpoint: written atomically, and after the
validation due at the same step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

from vrl.interrupt import Interrupted, StopOnSignal
from vrl.loggers import finish
from vrl.metrics_csv import KeepStepMetrics

log = logging.getLogger("vrl")


def stop_callbacks(
    stage: str, save: Callable[[Any], Path], step: Callable[[Any, Any], int], every_batch: bool = False
) -> list[Any]:
    """The callbacks every training stage adds to its Trainer (see the module docstring)."""
    stop = StopOnSignal(
        save=save, step=step, stage=stage, every_batch=every_batch, validation_follows=validation_follows
    )
    return [KeepStepMetrics(), stop]


def resumable_fit(
    trainer: Any, module: Any, data: Any, checkpoint: Path, loggers: list[Any], stage: str, **fit_kwargs: Any
) -> None:
    """`trainer.fit`, resumed from `checkpoint` if it exists; loggers closed however it ends."""
    if checkpoint.exists():
        log.info("stage %s: resuming from %s", stage, checkpoint)
    try:
        trainer.fit(
            module, datamodule=data, ckpt_path=str(checkpoint) if checkpoint.exists() else None, **fit_kwargs
        )
    except BaseException as error:
        finish(loggers, "interrupted" if isinstance(error, (Interrupted, KeyboardInterrupt)) else "failed")
        raise
    finish(loggers)


def save_checkpoint(trainer: Any, path: Path, weights_only: bool = False) -> Path:
    """`trainer.save_checkpoint` to `path` through a temporary file (a collective: every rank
    calls it; rank 0 writes), so a kill mid-write never leaves a broken `last.ckpt`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    trainer.save_checkpoint(str(tmp), weights_only)
    if trainer.is_global_zero:
        tmp.replace(path)
    trainer.strategy.barrier("vrl-checkpoint")
    return path


class StepCheckpoint(ModelCheckpoint):
    """`last.ckpt` every `every_n_train_steps` optimizer steps, as `ModelCheckpoint(save_last=True,
    save_top_k=0)`, with two differences that keep a kill from losing anything:

    - a step that is also a validation step (`val_every_n_steps`) is saved after its validation,
      not before it (Lightning's order): a kill during that validation resumed after the
      checkpointed step, so the validation never ran again and its metrics row was lost;
    - the file is written to `last.ckpt.tmp` and renamed, so a kill mid-write leaves the
      previous checkpoint whole instead of a truncated one.
    """

    def __init__(self, dirpath: Path, every_n_train_steps: int) -> None:
        super().__init__(
            dirpath=dirpath, save_last=True, save_top_k=0, every_n_train_steps=every_n_train_steps
        )

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if (
            step % self._every_n_train_steps == 0
            and self._last_global_step_saved != step
            and validation_follows(trainer)
        ):
            self._defer_save_until_validation = True  # ModelCheckpoint.on_validation_end saves it
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def _save_checkpoint(self, trainer: Any, filepath: str) -> None:
        save_checkpoint(trainer, Path(filepath), self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(self)


def validation_follows(trainer: Any) -> bool:
    """Called in `on_train_batch_end`: whether Lightning runs validation right after this batch
    (its own rule, `_should_check_val_fx`, on a validation set with batches to run)."""
    batches = trainer.num_val_batches
    if not (trainer.enable_validation and sum(batches if isinstance(batches, list) else [batches])):
        return False
    loop = trainer.fit_loop
    return bool(loop.epoch_loop._should_check_val_fx(loop._data_fetcher))
