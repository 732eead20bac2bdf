"""`NoReplay`: train on the rollout batch as it is (plain GRPO)."""

from __future__ import annotations

from typing import Any

from vrl.policy.trajectory import Trajectory
from vrl.replay.base import effectiveness_stats


class NoReplay:
    """Returns the batch unchanged; still reports how much of it carries a gradient."""

    keeps_old_samples = False  # see vrl.replay.base.Replay
    target_size = None  # trains on everything it selects

    def __init__(self) -> None:
        self.stats: dict[str, float] = {}

    def select(self, batch: list[Trajectory], step: int) -> list[Trajectory]:
        self.stats = {
            **effectiveness_stats(batch),
            "replay/buffer_size": 0.0,
            "replay/replayed": 0.0,
            "replay/output_size": float(len(batch)),
        }
        return list(batch)

    def held(self) -> list[Trajectory]:
        return []

    def needs_more(self, n: int) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
