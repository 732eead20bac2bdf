"""Multiple-choice accuracy: 1.0 if the response picks the gold option letter, else 0.0.

The pick is read from the last `\\boxed{}`, else the `<answer>` tag, else an "Answer: B" line
or "the answer is B" phrase, else the whole response when it is short ("B", "(B) 12"). It may
be a letter ("B", "(B)", "Option B", "\\text{B}") or the exact text of an option; a letter
outside the question's options never counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrl.answer.extraction import extract_final_answer, extract_option_letter, match_option_text
from vrl.answer.final import extract_answer, gold_answer

_SHORT = 40  # a response this short, with no boxed/tag answer, is read as the answer itself


def picked_letter(text: str, choices: Sequence[str], n_options: int | None = None) -> str | None:
    """The option letter a response commits to, or None."""
    n = n_options or len(choices) or 26
    pred = extract_answer(text) or extract_final_answer(text)
    if pred is None and len(text.strip()) <= _SHORT:
        pred = text.strip()
    if not pred:
        return None
    return extract_option_letter(pred, n) or match_option_text(pred, list(choices))


def choice_reward(
    completions: Sequence[str],
    answer: Sequence[str],
    choices: Sequence[Sequence[str]] | None = None,
    **_: Any,
) -> list[float | None]:
    """Reward contract: 1.0 when the picked option is the gold one, else 0.0.

    Args:
        completions: B decoded responses.
        answer: B gold answers: an option letter, or the option's text.
        choices: B option lists; without them any letter A-Z is accepted.
    """
    options = list(choices) if choices is not None else [[]] * len(completions)
    rewards: list[float | None] = []
    for text, gold, opts in zip(completions, answer, options):
        n = len(opts) or 26
        gold = gold_answer(gold)
        gold_letter = extract_option_letter(gold, n) or match_option_text(gold, list(opts))
        pick = picked_letter(text, opts, n)
        rewards.append(1.0 if gold_letter is not None and pick == gold_letter else 0.0)
    return rewards
