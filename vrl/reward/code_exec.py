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
    require_answer: bool = False,
    **_: Any,
) -> list[float | None]:
    """Reward contract: `(calls - errors) / calls` per response; `no_call` when it made none.

    E.g. 3 calls, 1 error -> 0.667; 0 calls -> `no_call`. With `require_answer` a response
    without a non-empty `<answer>...</answer>` gets 0 whatever its calls did (V-Thinker's
    `CODEORM` returns 0 before counting sandbox outputs when the answer is empty).
    """
    import re

    n = len(completions)
    calls = list(tool_calls) if tool_calls is not None else [0] * n
    errors = list(tool_errors) if tool_errors is not None else [0] * n
    out: list[float | None] = []
    for text, c, e in zip(completions, calls, errors):
        answered = re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)
        if require_answer and not (answered and answered.group(1).strip()):
            out.append(0.0)
        else:
            out.append((c - e) / c if c > 0 else no_call)
    return out
