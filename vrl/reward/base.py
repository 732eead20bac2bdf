"""What a reward is to the RL step: a resource that scores B completions (`RewardPool`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class RewardOutput:
    """Rewards for B completions.

    Attributes:
        rewards: per function name, B values (None where the function gave none, raised or
            timed out).
        total: B weighted sums; a None counts as 0 (it is also flagged in `valid`).
        valid: B flags, False where a function with non-zero weight gave None.
        stats: `reward/<name>/mean` (over non-None values), `reward/<name>/none_frac`,
            `reward/<name>/errors`, `reward/<name>/timeouts`, `reward/<name>/nonfinite` (items),
            `reward/total/mean`.
    """

    rewards: dict[str, list[float | None]]
    total: list[float]
    valid: list[bool]
    stats: dict[str, float] = field(default_factory=dict)


class Reward(Protocol):
    """Scores completions; a resource the run loop owns (`start` may also be called early, to
    keep worker start-up out of the first step's timings; `close` is idempotent)."""

    def start(self) -> Any: ...

    def close(self) -> None: ...

    def __call__(self, completions: Sequence[str], **fields: Sequence[Any]) -> RewardOutput: ...
