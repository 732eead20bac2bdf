"""The final answer of a response, and whether it is right for a sample.

The answer is the last `\\boxed{}` (nested braces matched), else the last `<answer>...</answer>`.
Comparison goes through `vrl.answer.equivalence.is_equivalent`, which routes by `answer_type`:
numbers as numbers, symbolic answers through math-verify, words and option letters as
normalised strings (never math-verify: it calls `Yes` and `sey` equal). Shared by the rewards,
forced rethinking and the data generators' self-checks.
"""

from __future__ import annotations

from collections.abc import Sequence

from vrl.answer.equivalence import is_equivalent, option_equal
from vrl.answer.extraction import (
    extract_answer_tag,
    extract_boxed,
    extract_option_letter,
    match_option_text,
)


def extract_answer(text: str) -> str | None:
    """The answer a response commits to: last `\\boxed{}`, else last `<answer>` tag; None if neither."""
    answer = extract_boxed(text) or extract_answer_tag(text)
    while answer and answer.startswith("\\boxed"):  # \boxed{\boxed{5}} or <answer>\boxed{5}</answer>
        inner = extract_boxed(answer)
        if not inner or inner == answer:
            break
        answer = inner
    return answer or None


def gold_answer(answer: str) -> str:
    """The gold answer without a `\\boxed{}` wrapper (ViRL39K stores answers boxed)."""
    answer = str(answer).strip()
    if "\\boxed" in answer:
        return extract_boxed(answer) or answer
    return answer


def answer_is_correct(
    text: str, answer: str, answer_type: str = "text", choices: Sequence[str] | None = None
) -> bool:
    """Whether the final answer of `text` is right for this sample (see the module docstring).

    For choice questions the prediction may name the option by letter ("(B)") or by its text;
    the gold may be the letter or the option text.
    """
    pred = extract_answer(text)
    if pred is None:
        return False
    gold = gold_answer(answer)
    choices = list(choices or [])
    if answer_type == "choice" and choices:
        letter = extract_option_letter(gold, len(choices)) or match_option_text(gold, choices)
        return letter is not None and option_equal(pred, letter, choices)
    return is_equivalent(pred, gold, answer_type)
