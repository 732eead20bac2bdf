"""V-Thinker's code reward: the share of a response's sandbox calls that did not error.

Reads the rollout's per-response counts `tool_calls` and `tool_errors`
(`vrl.policy.trajectory.reward_inputs`, filled by `vrl.rollout.multiturn.MultiTurnRollout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def code_exec_reward(
    completions: Sequence[str],
    tool_calls: Sequence[int] | None = None,
    tool_errors: Sequence[int] | None = None,
    no_call: float = 0.0,
    **_: Any,
) -> list[float | None]:
    """Reward contract: `(calls - errors) / calls` per response; `no_call` when it made none.

    E.g. 3 calls, 1 error -> 0.667; 0 calls -> `no_call`.
    """
    n = len(completions)
    calls = list(tool_calls) if tool_calls is not None else [0] * n
    errors = list(tool_errors) if tool_errors is not None else [0] * n
    return [(c - e) / c if c > 0 else no_call for c, e in zip(calls, errors)]
