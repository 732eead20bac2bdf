"""What a rethinking policy is."""

from __future__ import annotations

from typing import Any, Protocol

from vrl.policy.continuation import ContinueFn
from vrl.policy.trajectory import Trajectory


class Rethink(Protocol):
    """Rewrites some responses of a fresh rollout (before rewards are computed).

    `augment` returns the batch with the same length and order (a rethought response takes
    its original's slot) and `rethink/...` stats. `continue_fn` is the rollout engine's
    continuation boundary (`vrl.policy.continuation.ContinueFn`). `state_dict` (the RNG) goes
    into checkpoints. `active` is False for a policy that never rewrites (`NoRethink`): the
    RL step then skips the call, and a tool loop (which cannot be rethought) is allowed.
    """

    active: bool

    def augment(
        self, batch: list[Trajectory], continue_fn: ContinueFn
    ) -> tuple[list[Trajectory], dict[str, float]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
