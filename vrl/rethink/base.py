"""What a rethinking policy is, and the engine boundary it calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from vrl.rollout.trajectory import Trajectory


class Continuation(NamedTuple):
    """What the rollout engine returns for one prefix.

    Attributes:
        text: the newly generated text only (after the prefix).
        token_ids: the newly generated token ids only (their count is "new tokens").
        finished: True if generation ended with EOS.
        prefix_ids: the token ids of the prefix text as the engine encoded it (the truncated
            response plus the trigger); the rethought response is `prefix_ids + token_ids`.
    """

    text: str
    token_ids: list[int]
    finished: bool
    prefix_ids: list[int]


# continue_fn([(trajectory, prefix_text), ...], temperature) -> [Continuation, ...] (same order).
# The engine generates after prompt + prefix_text for each trajectory's prompt (its sample's
# images included); a cap of ~1024 new tokens is enough (longer ones are rejected).
ContinueFn = Callable[[list[tuple[Trajectory, str]], float], list[Continuation]]


class Rethink(Protocol):
    """Rewrites some responses of a fresh rollout (before rewards are computed).

    `augment` returns the batch with the same length and order (a rethought response takes
    its original's slot) and `rethink/...` stats. `state_dict` (the RNG) goes into checkpoints.
    """

    def augment(
        self, batch: list[Trajectory], continue_fn: ContinueFn
    ) -> tuple[list[Trajectory], dict[str, float]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
