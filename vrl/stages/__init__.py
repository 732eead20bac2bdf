"""Stages of a run. Each reads and writes products in the run directory (see `base`).

A stage's config (`vrl/conf/stage/<kind>.yaml`) instantiates its typed settings object by
`_target_` (e.g. `vrl.rl.settings.RLSettings`); `stage_for` turns the settings into the stage
that runs with them. A custom stage can instead point `_target_` at any class that follows the
`Stage` protocol: `stage_for` returns it as it is.
"""

from __future__ import annotations

from typing import Any

from vrl.errors import ConfigError
from vrl.rl.settings import RLSettings
from vrl.sft.settings import SFTSettings
from vrl.stages.base import Stage
from vrl.stages.data import DataSettings, DataStage
from vrl.stages.eval import EvalSettings, EvalStage
from vrl.stages.flywheel import FlywheelSettings, FlywheelStage
from vrl.stages.rl import RLStage
from vrl.stages.sft import SFTStage

STAGES: dict[type, type] = {
    DataSettings: DataStage,
    FlywheelSettings: FlywheelStage,
    SFTSettings: SFTStage,
    RLSettings: RLStage,
    EvalSettings: EvalStage,
}


def stage_for(name: str, settings: Any) -> Stage:
    """The stage that runs with `settings` (or `settings` itself if it is already a stage)."""
    for settings_type, stage_type in STAGES.items():
        if isinstance(settings, settings_type):
            return stage_type(settings)
    if isinstance(settings, Stage):
        return settings
    raise ConfigError(
        f"stage.{name}._target_ builds a {type(settings).__name__}, which is neither a stage's settings "
        f"({', '.join(t.__name__ for t in STAGES)}) nor a Stage (run, check, requires, reads, writes)"
    )


__all__ = [
    "STAGES",
    "DataSettings",
    "DataStage",
    "EvalSettings",
    "EvalStage",
    "FlywheelSettings",
    "FlywheelStage",
    "RLStage",
    "SFTStage",
    "Stage",
    "stage_for",
]
