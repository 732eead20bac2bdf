"""Experiment tracking: W&B (offline automatically without an API key) plus a CSV log, always.

One W&B run per stage: `job_type` is the stage, `group` ties the stages of a run (and all
runs of a sweep) together, the resolved config and the experiment's tags are attached.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger

log = logging.getLogger("vrl")


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
        """CSV logger under `<stage_dir>/csv`, plus a W&B run under `<run_dir>/wandb`."""
        stage_dir.mkdir(parents=True, exist_ok=True)
        loggers: list[Logger] = [CSVLogger(save_dir=str(stage_dir), name="csv", version="")]
        mode = self.resolved_wandb_mode
        if mode == "disabled":
            return loggers
        os.environ.setdefault("WANDB_SILENT", "true")
        wandb_logger = WandbLogger(
            name=f"{self.run_name}/{stage}",
            save_dir=str(stage_dir.parent),
            project=self.project,
            entity=self.entity,
            group=self.group,
            job_type=stage,
            tags=self.tags,
            offline=mode == "offline",
            config=config,
            settings={"init_timeout": 120},
        )
        loggers.append(wandb_logger)
        identity = {
            "project": self.project,
            "group": self.group,
            "job_type": stage,
            "mode": mode,
            "name": f"{self.run_name}/{stage}",
            "tags": self.tags,
            "id": wandb_logger.experiment.id,  # starts the run now, so its id is known
        }
        (stage_dir / "wandb_run.json").write_text(json.dumps(identity, indent=2))
        return loggers


def finish(loggers: list[Logger]) -> None:
    """Flush every logger and close the W&B run so the next stage starts its own."""
    for logger in loggers:
        logger.finalize("success")
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish()
