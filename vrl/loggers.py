"""Experiment tracking: W&B (offline automatically without an API key) plus a CSV log, always.

One W&B run per stage: `job_type` is the stage, `group` ties the stages of a run (and all
runs of a sweep) together, the resolved config and the experiment's tags are attached.

Resume keeps one record per stage:
- W&B: the stage's run id is kept in `<stage>/wandb_run.json`; a restarted stage (a requeued
  job, a rerun after a kill) resumes that run (`resume="allow"`, offline and online alike)
  instead of starting a second one.
- CSV: `ResumableCSVLogger` appends to `<stage>/csv/metrics.csv` (Lightning's CSV logger
  deletes it on restart) and writes every row at once (Lightning's waits 100 steps, so a kill
  lost them). `KeepStepMetrics`, a callback of every training stage, then makes the file hold
  each trained step exactly once: rows logged after the checkpoint the run resumed from (steps
  it trains again) are dropped, and the row of the checkpoint's own step, which Lightning logs
  just after saving, is carried in the checkpoint and written if the kill came in between.
- Only rank 0 writes (Lightning's loggers are rank-zero-only; W&B exists on rank 0 only).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from vrl.distributed import is_rank_zero
from vrl.errors import VrlError

log = logging.getLogger("vrl")
RETRY_AFTER_S = 5.0  # W&B's service notices its parent died within a few seconds


class RunLoggers:
    """Builds the Lightning loggers of one stage.

    Args:
        project: W&B project.
        entity: W&B entity (team or user); None = the key's default.
        wandb_mode: "auto" (online with WANDB_API_KEY, else offline), "online", "offline" or
            "disabled" (no W&B run at all; the CSV log remains).
        group: W&B group; None = the run name, or one name per sweep (set by `run`).
        tags: extra W&B tags (the experiment's `tags` are appended).
    """

    def __init__(
        self,
        project: str = "vrl",
        entity: str | None = None,
        wandb_mode: Literal["auto", "online", "offline", "disabled"] = "auto",
        group: str | None = None,
        tags: list[str] | None = None,
    ) -> None:
        self.project = project
        self.entity = entity
        self.wandb_mode = wandb_mode
        self.group = group
        self.tags = list(tags or [])
        self.run_name = "vrl"

    @property
    def resolved_wandb_mode(self) -> str:
        if self.wandb_mode != "auto":
            return self.wandb_mode
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"

    def build(self, stage: str, stage_dir: Path, config: dict[str, Any]) -> list[Logger]:
        """CSV logger under `<stage_dir>/csv`, plus (rank 0) a W&B run under `<run_dir>/wandb`,
        the stage's earlier run if it has one (`<stage_dir>/wandb_run.json`)."""
        stage_dir.mkdir(parents=True, exist_ok=True)
        loggers: list[Logger] = [ResumableCSVLogger(save_dir=str(stage_dir), name="csv", version="")]
        mode = self.resolved_wandb_mode
        if mode == "disabled" or not is_rank_zero():
            return loggers
        os.environ.setdefault("WANDB_SILENT", "true")
        record = stage_dir / "wandb_run.json"
        earlier = json.loads(record.read_text()) if record.exists() else {}
        resume_id = earlier.get("id") if earlier.get("project") == self.project else None
        if resume_id:
            log.info("stage %s: resuming W&B run %s", stage, resume_id)
        _finish_stray_wandb_run()
        wandb_logger, run_id = self._start_wandb_run(stage, stage_dir, config, resume_id, mode)
        loggers.append(wandb_logger)
        identity = {
            "project": self.project,
            "group": self.group,
            "job_type": stage,
            "mode": mode,
            "name": f"{self.run_name}/{stage}",
            "tags": self.tags,
            "id": run_id,
            "resumed": bool(resume_id),
        }
        record.write_text(json.dumps(identity, indent=2))
        return loggers

    def _start_wandb_run(
        self, stage: str, stage_dir: Path, config: dict[str, Any], resume_id: str | None, mode: str
    ) -> tuple[WandbLogger, str]:
        """Start the stage's W&B run now (so its id is known), on a fresh W&B service once more
        if the first start fails (once on CI, resuming a stage seconds after a SIGKILL: the
        killed process's service runs in its own session, so the kill missed it, and may still
        hold the run). A second failure is one line naming the stage, the run and the way out."""
        arguments = dict(
            name=f"{self.run_name}/{stage}",
            save_dir=str(stage_dir.parent),
            project=self.project,
            entity=self.entity,
            group=self.group,
            job_type=stage,
            tags=self.tags,
            offline=mode == "offline",
            config=config,
            id=resume_id,  # WandbLogger always passes resume="allow": the same run continues
            settings={"init_timeout": 120},
        )
        wandb_logger = SignalSafeWandbLogger(**arguments)
        try:
            return wandb_logger, wandb_logger.experiment.id
        except Exception as error:  # noqa: BLE001 - W&B's errors share no base class
            log.warning(
                "stage %s: W&B did not start run %s (%s: %s); retrying once on a fresh W&B service",
                stage,
                resume_id or "(new)",
                type(error).__name__,
                error,
            )
        import wandb  # noqa: PLC0415 - imported by WandbLogger above; here only to restart its service

        wandb.teardown()
        time.sleep(RETRY_AFTER_S)
        wandb_logger = SignalSafeWandbLogger(**arguments)
        try:
            return wandb_logger, wandb_logger.experiment.id
        except Exception as error:  # noqa: BLE001
            raise VrlError(
                f"stage {stage}: W&B could not start run {resume_id or '(new)'} twice "
                f"({type(error).__name__}: {error}); see {stage_dir.parent / 'wandb'}, or run with "
                "logger.wandb_mode=disabled (the CSV log under <stage>/csv remains)"
            ) from error


def finish(loggers: list[Logger], status: Literal["success", "interrupted", "failed"] = "success") -> None:
    """Flush every logger and close the W&B run so the next stage (or the next start of this
    one) starts cleanly; an interrupted run is marked preempting first. After a signal W&B's
    service may be gone (SLURM signals every process of the job): closing it then fails, which
    must not turn a clean stop into a crash; the run resumes by id next time."""
    for logger in loggers:
        try:
            logger.finalize("success" if status == "success" else "aborted")
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                run = logger.experiment
                if status == "interrupted":
                    run.mark_preempting()
                run.finish(exit_code=0 if status == "success" else 1)
        except Exception as error:  # noqa: BLE001 - W&B's service died with the signal
            log.warning(
                "closing %s failed (%s: %s); continuing", type(logger).__name__, type(error).__name__, error
            )
    _finish_stray_wandb_run()


def _finish_stray_wandb_run() -> None:
    """A W&B run left open (a crash mid-stage) would be reused by the next WandbLogger: close it."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        try:
            wandb.finish(exit_code=1)
        except Exception as error:  # noqa: BLE001
            log.warning("closing a stray W&B run failed: %s", error)


class SignalSafeWandbLogger(WandbLogger):
    """`WandbLogger` whose logging cannot crash a run: SLURM sends SIGTERM to every process of a
    job (a requeue, a preemption, `scancel`), W&B's service process among them, and every later
    `wandb.log` raises `ConnectionResetError`, which would turn vrl's clean stop at the step end
    into a failed job. The rows still reach metrics.csv; the W&B run resumes by id on restart."""

    _broken: str | None = None

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._broken is not None:
            return
        try:
            super().log_metrics(metrics, step)
        except ConnectionError as error:  # the W&B service is gone
            self._broken = f"{type(error).__name__}: {error}"
            log.warning("W&B stopped answering (%s): no more W&B logging in this process", self._broken)


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
    step ran, so the checkpoint carries that row and the resumed stage writes it if it is missing."""

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
