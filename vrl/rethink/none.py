"""`NoRethink`: leave the rollout as it is."""

from __future__ import annotations

from typing import Any

from vrl.policy.continuation import ContinueFn
from vrl.policy.trajectory import Trajectory


class NoRethink:
    """Rethinks nothing (the RL step does not even ask for a continuation function)."""

    active = False  # see vrl.rethink.base.Rethink

    def augment(
        self, batch: list[Trajectory], continue_fn: ContinueFn
    ) -> tuple[list[Trajectory], dict[str, float]]:
        return list(batch), {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
