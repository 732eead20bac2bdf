"""The stage's CSV log, `<stage>/csv/metrics.csv`: every trained step's row exactly once, however
often the stage was stopped and resumed.

`ResumableCSVLogger` appends to `<stage>/csv/metrics.csv` (Lightning's CSV logger deletes it on
restart) and writes every row at once (Lightning's waits 100 steps, so a kill lost them).
`KeepStepMetrics`, a callback of every training stage, then makes the file hold each trained
step exactly once: rows logged after the checkpoint the run resumed from (steps it trains
again) are dropped, and the row of the checkpoint's own step, which Lightning logs just after
saving, is carried in the checkpoint and written if the kill came in between. Only rank 0 writes.
"""

from __future__ import annotations

import csv
import logging
import os
from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from vrl.distributed import is_rank_zero

log = logging.getLogger("vrl")


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer that keeps an existing `metrics.csv` (and its header) and adds to it."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = sorted(csv.DictReader(handle).fieldnames or [])

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes the file here; a resumed stage appends to it instead."""

    def rows(self) -> list[dict[str, str]]:
        if not os.path.isfile(self.metrics_file_path):
            return []
        with open(self.metrics_file_path, newline="") as handle:
            return list(csv.DictReader(handle))

    def keep_steps_before(self, step: int) -> int:
        """Drop rows logged at `step` or later (steps the resumed run trains again); how many."""
        rows = self.rows()
        kept = [row for row in rows if row.get("step") in (None, "") or int(float(row["step"])) < step]
        if len(kept) != len(rows):
            tmp = self.metrics_file_path + ".tmp"
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(kept)
            os.replace(tmp, self.metrics_file_path)
        return len(rows) - len(kept)


class ResumableCSVLogger(CSVLogger):
    """`CSVLogger` that appends to an existing `metrics.csv` and writes every row at once."""

    def __init__(self, save_dir: str, name: str = "csv", version: str = "") -> None:
        super().__init__(save_dir=save_dir, name=name, version=version, flush_logs_every_n_steps=1)

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            if not is_rank_zero():
                return super().experiment  # rank_zero_experiment: a no-op object
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        super().log_metrics(metrics, step)
        self.save()  # every row on disk before the next step (Lightning: every 100 steps)


class KeepStepMetrics(Callback):
    """Each trained step's metrics in `metrics.csv` exactly once across restarts (see the module
    docstring). Lightning logs a step's metrics right *after* the checkpoint callbacks of that
    step ran, so the checkpoint carries that row and the resumed stage writes it if it is missing.
    (The RL step writes its row itself, inside the step, `vrl.trainer.log_step_metrics`: it is on
    disk before the checkpoint, which then carries nothing.)"""

    def __init__(self) -> None:
        self._carried: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        connector = getattr(trainer, "_logger_connector", None)
        try:
            row = {k: float(v) for k, v in connector.metrics["log"].items()} if connector else {}
        except Exception:  # noqa: BLE001 - nothing logged yet in this step
            row = {}
        checkpoint["vrl_log_row"] = {"step": _logging_step(trainer), "metrics": row}

    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        self._carried = checkpoint.get("vrl_log_row")

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if self._carried is None or not trainer.is_global_zero:
            return
        carried, self._carried = self._carried, None
        # The checkpoint was written inside its step (logging step `carried["step"]`): that
        # step's rows already written are kept (the row itself, the learning rate logged at its
        # start, a validation after it), rows of later steps are trained again and dropped.
        keep_below = int(carried["step"]) + 1 if "step" in carried else _logging_step(trainer)
        for logger in trainer.loggers:
            if not isinstance(logger, ResumableCSVLogger):
                continue
            writer = logger.experiment
            dropped = writer.keep_steps_before(keep_below)
            if dropped:
                log.info("metrics.csv: dropped %d rows of steps >= %d (trained again)", dropped, keep_below)
            step, row = int(carried["step"]), carried["metrics"]
            have = [r for r in writer.rows() if r.get("step") and int(float(r["step"])) == step]
            if row and not any(all(r.get(k, "") != "" for k in row) for r in have):
                log.info("metrics.csv: writing step %d's row, carried by the checkpoint", step)
                for other in trainer.loggers:
                    other.log_metrics(row, step=step)


def _logging_step(trainer: Any) -> int:
    """The step Lightning logs the current batch's metrics at (`_batches_that_stepped`)."""
    return int(trainer.fit_loop.epoch_loop._batches_that_stepped)
