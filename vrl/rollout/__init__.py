"""Rollout engines: turn prompts (samples) into responses with a model (see `base.RolloutEngine`)."""

from vrl.rollout.hf import HFRolloutEngine

__all__ = ["HFRolloutEngine"]
