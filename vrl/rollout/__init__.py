"""Rollout engines: turn prompts (samples) into responses with a model (see `base.RolloutEngine`)."""

from vrl.rollout.hf import HFRolloutEngine
from vrl.rollout.multiturn import MultiTurnRollout

__all__ = ["HFRolloutEngine", "MultiTurnRollout"]
