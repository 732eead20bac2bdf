"""Answer accuracy: 1.0 if the response's final answer matches the gold answer, else 0.0.

What counts as the final answer and as a match: `vrl.answer.final`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrl.answer.final import answer_is_correct


def accuracy_reward(
    completions: Sequence[str],
    answer: Sequence[str],
    answer_type: Sequence[str] | None = None,
    choices: Sequence[Sequence[str]] | None = None,
    **_: Any,
) -> list[float | None]:
    """Reward contract: 1.0 for a correct final answer, 0.0 otherwise (also when none is found).

    Args:
        completions: B decoded responses.
        answer: B gold answers (`Sample.answer`).
        answer_type: B `Sample.answer_type` values (default "text" for all).
        choices: B option lists (`Sample.choices`), used for "choice" questions.
    """
    n = len(completions)
    types = list(answer_type) if answer_type is not None else ["text"] * n
    options = list(choices) if choices is not None else [[]] * n
    return [
        1.0 if answer_is_correct(text, gold, kind, opts) else 0.0
        for text, gold, kind, opts in zip(completions, answer, types, options)
    ]
