"""What the training stages (SFT, RL) share around `trainer.fit`: resume, signals, loggers.

`resumable_fit` runs `trainer.fit` from `<stage>/checkpoints/last.ckpt` when it exists, with
the two callbacks that make a stop lose nothing (`vrl.interrupt.StopOnSignal`: a checkpoint at
the end of the step a signal arrived in; `vrl.loggers.KeepStepMetrics`: every trained step's
metrics once in `metrics.csv`), and closes the stage's loggers however fit ends (W&B marked
preempted on a signal), so the next start of the stage resumes the same W&B run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vrl.interrupt import Interrupted, StopOnSignal
from vrl.loggers import KeepStepMetrics, finish

log = logging.getLogger("vrl")


def stop_callbacks(
    stage: str, save: Callable[[Any], Path], step: Callable[[Any, Any], int], every_batch: bool = False
) -> list[Any]:
    """The callbacks every training stage adds to its Trainer (see the module docstring)."""
    return [KeepStepMetrics(), StopOnSignal(save=save, step=step, stage=stage, every_batch=every_batch)]


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


def save_checkpoint(trainer: Any, path: Path) -> Path:
    """`trainer.save_checkpoint` to `path` through a temporary file (a collective: every rank
    calls it; rank 0 writes), so a kill mid-write never leaves a broken `last.ckpt`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    trainer.save_checkpoint(str(tmp))
    if trainer.is_global_zero:
        tmp.replace(path)
    trainer.strategy.barrier("vrl-checkpoint")
    return path
