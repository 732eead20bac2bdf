"""Experiment tracking: W&B (offline automatically without an API key) plus a CSV log, always.

One W&B run per stage: `job_type` is the stage, `group` ties the stages of a run (and all
runs of a sweep) together, the resolved config and the experiment's tags are attached.

Resume keeps one record per stage:
- W&B: the stage's run id is kept in `<stage>/wandb_run.json`; a restarted stage (a requeued
  job, a rerun after a kill) resumes that run (`resume="allow"`, offline and online alike)
  instead of starting a second one.
- CSV: every row of every step exactly once across restarts (`vrl.metrics_csv`).
- Only rank 0 writes (Lightning's loggers are rank-zero-only; W&B exists on rank 0 only).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from lightning.pytorch.loggers import Logger, WandbLogger

from vrl.distributed import is_rank_zero
from vrl.errors import VrlError
from vrl.metrics_csv import ResumableCSVLogger

log = logging.getLogger("vrl")


class RunLoggers:
    """Builds the Lightning loggers of one stage.

    Args:
        project: W&B project.
        entity: W&B entity (team or user); None = the key's default.
        wandb_mode: "auto" (online with WANDB_API_KEY and a W&B server that answers within
            `reach_timeout_s`, else offline, said in one line), "online", "offline" or
            "disabled" (no W&B run at all; the CSV log remains).
        group: W&B group; None = one per run dir, or one per sweep (set by `vrl.run`).
        tags: extra W&B tags (the experiment's `tags` are appended).
        reach_timeout_s: how long "auto" waits for the W&B server (`WANDB_BASE_URL`, else
            api.wandb.ai) to accept a connection, in seconds (W&B itself waited 120 s, then
            failed the run, on a node without network).
    """

    def __init__(
        self,
        project: str = "vrl",
        entity: str | None = None,
        wandb_mode: Literal["auto", "online", "offline", "disabled"] = "auto",
        group: str | None = None,
        tags: list[str] | None = None,
        reach_timeout_s: float = 5.0,
    ) -> None:
        self.project = project
        self.reach_timeout_s = reach_timeout_s
        self._auto_mode: str | None = None  # "auto" resolved once per process
        self.entity = entity
        self.wandb_mode = wandb_mode
        self.group = group
        self.tags = list(tags or [])
        self.run_name = "vrl"  # set by `vrl.run`: the run's name, or a sweep job's swept values
        self.swept: dict[str, str] = {}  # a sweep job's swept values, top-level W&B config keys

    @property
    def resolved_wandb_mode(self) -> str:
        if self.wandb_mode != "auto":
            return self.wandb_mode
        if self._auto_mode is None:
            self._auto_mode = "offline"
            if os.environ.get("WANDB_API_KEY"):
                server = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
                reached = _accepts_connections(server, self.reach_timeout_s)
                self._auto_mode = "online" if reached else "offline"
                if not reached:
                    log.warning(
                        "W&B server %s did not answer within %g s: logging offline under <run dir>/wandb "
                        "(upload later with `wandb sync <run dir>/wandb/offline-run-*`)",
                        server,
                        self.reach_timeout_s,
                    )
        return self._auto_mode

    def build(self, stage: str, stage_dir: Path, config: dict[str, Any]) -> list[Logger]:
        """CSV logger under `<stage_dir>/csv`, plus (rank 0) a W&B run under `<run_dir>/wandb`,
        the stage's earlier run if it has one (`<stage_dir>/wandb_run.json`)."""
        stage_dir.mkdir(parents=True, exist_ok=True)
        loggers: list[Logger] = [ResumableCSVLogger(save_dir=str(stage_dir), name="csv", version="")]
        mode = self.resolved_wandb_mode
        if mode == "disabled" or not is_rank_zero():
            return loggers
        os.environ.setdefault("WANDB_SILENT", "true")
        _stage_wandb_files_in(stage_dir.parent / "wandb")
        record = stage_dir / "wandb_run.json"
        earlier = json.loads(record.read_text()) if record.exists() else {}
        resume_id = earlier.get("id") if earlier.get("project") == self.project else None
        if resume_id:
            log.info("stage %s: resuming W&B run %s", stage, resume_id)
        _finish_stray_wandb_run()
        wandb_logger, run_id = self._start_wandb_run(stage, stage_dir, config, resume_id, mode)
        loggers.append(wandb_logger)
        identity = {
            "entity": self.entity or wandb_logger.experiment.entity or None,  # the key's default entity
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
        """Start the stage's W&B run now (so its id is known); a refusal is one line naming the
        stage, the run and the way out. (A service shared through an inherited `WANDB_SERVICE`
        once refused a resumed run, "run ID ... is in use": the entry point now drops it.)"""
        arguments = dict(
            name=f"{self.run_name}/{stage}",
            save_dir=str(stage_dir.parent),
            project=self.project,
            entity=self.entity,
            group=self.group,
            job_type=stage,
            tags=self.tags,
            offline=mode == "offline",
            config={**config, **self.swept},  # swept values on top: W&B's sweep panels read them
            id=resume_id,  # WandbLogger always passes resume="allow": the same run continues
            settings={"init_timeout": 120},
        )
        wandb_logger = SignalSafeWandbLogger(**arguments)
        try:
            return wandb_logger, wandb_logger.experiment.id
        except Exception as error:  # noqa: BLE001 - W&B's errors share no base class
            raise VrlError(
                f"stage {stage}: W&B could not start run {resume_id or '(new)'} "
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


def _stage_wandb_files_in(wandb_dir: Path) -> None:
    """W&B stages a table's images (and any artifact) under `WANDB_DATA_DIR`, by default in
    ~/.local/share/wandb, outside the run: keep them in the run's own `wandb/data` unless the
    user chose a place. vrl's own choice is marked in `VRL_WANDB_DATA_DIR`, so a value a child
    process inherits from an earlier run (a sweep's launcher, a test) is not taken for the user's."""
    chosen = os.environ.get("WANDB_DATA_DIR")
    if chosen is not None and chosen != os.environ.get("VRL_WANDB_DATA_DIR"):
        return  # the user's
    os.environ["WANDB_DATA_DIR"] = os.environ["VRL_WANDB_DATA_DIR"] = str(wandb_dir / "data")


def _accepts_connections(url: str, timeout_s: float) -> bool:
    """Whether `url`'s host accepts a TCP connection within `timeout_s` seconds."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout_s).close()
    except OSError:
        return False
    return True


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning always passes `anonymous` (None when unset); W&B 0.31 warns on any value.
        self._wandb_init.pop("anonymous", None)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._broken is not None:
            return
        try:
            super().log_metrics(metrics, step)
        except ConnectionError as error:  # the W&B service is gone
            self._broken = f"{type(error).__name__}: {error}"
            log.warning("W&B stopped answering (%s): no more W&B logging in this process", self._broken)
