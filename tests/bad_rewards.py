"""Reward functions that misbehave on purpose, for the bad-input cases (tests/bad_input_cases.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def nan_reward(completions: Sequence[str], **fields: Any) -> list[float]:
    """NaN for every completion (a reward with a 0/0 inside)."""
    return [math.nan for _ in completions]


def failing_reward(completions: Sequence[str], **fields: Any) -> list[float]:
    """Raises on every call (a reward with a bug)."""
    raise KeyError("solution")


def half_failing_reward(
    completions: Sequence[str], answer: Sequence[str], **fields: Any
) -> list[float | None]:
    """Raises on every second completion of a call, else 0.0."""
    if len(completions) == 1 and hash(completions[0]) % 2:
        raise ValueError("odd")
    return [0.0 for _ in completions]
