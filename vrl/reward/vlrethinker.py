"""The VL-Rethinker reward (arXiv 2504.08837): correctness of the last `\\boxed{}` plus a
bonus for native rethinking.

| response                                                      | reward                |
|---------------------------------------------------------------|-----------------------|
| invalid: no EOS, no `\\boxed{}`, or more than 5 "wait"         | -0.1                  |
| wrong                                                         | 0.0                   |
| correct, forced (produced by forced rethinking)               | 1.0                   |
| correct, native, no cue                                       | 1.0                   |
| correct, native, 1-2 cues                                     | 1.1                   |
| correct, native, n >= 3 cues                                  | max(1 - 0.2 n, -0.1)  |

Cues: "wait,", "wait a", "alternatively" counted in the lower-cased response. "wait" for the
invalid rule is every lower-cased occurrence of "wait".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrl.answer.cues import RETHINK_CUES, count_cues
from vrl.answer.extraction import extract_boxed
from vrl.answer.final import answer_is_correct


def vlrethinker_score(
    text: str,
    correct: bool,
    finished: bool,
    forced: bool,
    *,
    cues: Sequence[str] = RETHINK_CUES,
    max_waits: int = 5,
    invalid: float = -0.1,
    bonus: float = 1.1,
    max_bonus_cues: int = 2,
    cue_penalty: float = 0.2,
) -> float:
    """The table in the module docstring for one response (correctness already decided)."""
    if not finished or not extract_boxed(text) or text.lower().count("wait") > max_waits:
        return invalid
    if not correct:
        return 0.0
    if forced:
        return 1.0
    n = count_cues(text, cues)
    if n == 0:
        return 1.0
    if n <= max_bonus_cues:
        return bonus
    return max(1.0 - cue_penalty * n, invalid)


def vlrethinker_reward(
    completions: Sequence[str],
    answer: Sequence[str],
    finished: Sequence[bool],
    forced: Sequence[bool] | None = None,
    answer_type: Sequence[str] | None = None,
    choices: Sequence[Sequence[str]] | None = None,
    cues: Sequence[str] = RETHINK_CUES,
    max_waits: int = 5,
    invalid: float = -0.1,
    bonus: float = 1.1,
    max_bonus_cues: int = 2,
    cue_penalty: float = 0.2,
    **_: Any,
) -> list[float | None]:
    """Reward contract for the VL-Rethinker table.

    Args:
        completions: B decoded responses.
        answer, answer_type, choices: B gold answers and their types (see `accuracy_reward`).
        finished: B flags, True when the response ended with EOS (not cut by the length limit).
        forced: B flags, True for responses produced by forced rethinking (no bonus).
        cues, max_waits, invalid, bonus, max_bonus_cues, cue_penalty: the table's constants.
    """
    n = len(completions)
    forced = list(forced) if forced is not None else [False] * n
    types = list(answer_type) if answer_type is not None else ["text"] * n
    options = list(choices) if choices is not None else [[]] * n
    rewards: list[float | None] = []
    for text, gold, done, was_forced, kind, opts in zip(
        completions, answer, finished, forced, types, options
    ):
        # "correctness of the last \boxed{}": without one the response is invalid anyway.
        correct = extract_boxed(text) is not None and answer_is_correct(text, gold, kind, opts)
        rewards.append(
            vlrethinker_score(
                text,
                correct,
                bool(done),
                bool(was_forced),
                cues=cues,
                max_waits=max_waits,
                invalid=invalid,
                bonus=bonus,
                max_bonus_cues=max_bonus_cues,
                cue_penalty=cue_penalty,
            )
        )
    return rewards
