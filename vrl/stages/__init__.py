"""Stages of a run. Each reads and writes products in the run directory (see `base`)."""

from vrl.stages.data import DataStage
from vrl.stages.eval import EvalStage
from vrl.stages.flywheel import FlywheelStage
from vrl.stages.rl import RLStage
from vrl.stages.sft import SFTStage

__all__ = ["DataStage", "EvalStage", "FlywheelStage", "RLStage", "SFTStage"]
