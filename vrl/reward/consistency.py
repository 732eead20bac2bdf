"""V-Thinker's consistency reward: does the reasoning's conclusion agree with the final answer?

The reasoning tail is the last `tail_chars` of the text before the final `<answer>` (or
`\\boxed{}`), tool calls and tool results removed: a call's code (`box[3]`, `2 * w`) is not a
conclusion, and its digits would make every answer they contain "consistent". A judge
(`vrl.answer.judge.OpenAIJudge`, or any object with `judge_many(requests) -> [bool | None]`)
decides with V-Thinker's consistency prompt (`vrl.reward.judge_prompts.VTHINKER_CONSISTENCY`), shown
what V-Thinker shows its judge: the last `tail_chars` of the thinking (the text up to `</think>`,
tags of images and sandbox outputs removed, their content kept; release: 500) and the answer.
When there is no judge or it gives no verdict, the rule decides: the normalised answer occurs in
the tail, or the tail's last number equals it. 1.0 consistent, 0.0 not or no answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from vrl.answer.equivalence import is_equivalent
from vrl.answer.final import extract_answer

_TOOL_TEXT = re.compile(r"<(sandbox_output|tool_response|code|tool_call)>.*?</\1>", re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
QUESTION = "Does the reasoning's conclusion (the standard answer) state the same result as the final answer?"


def reasoning_tail(text: str, tail_chars: int = 300) -> str:
    """The last `tail_chars` characters before the final answer, tool calls and results removed."""
    cut = max(text.rfind("<answer>"), text.rfind("\\boxed"))
    before = text[:cut] if cut >= 0 else text
    return _TOOL_TEXT.sub(" ", before)[-tail_chars:]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def rule_consistent(tail: str, answer: str) -> bool:
    """The rule: the answer occurs in the tail, or the tail's last number equals the answer."""
    if _norm(answer) and _norm(answer) in _norm(tail):
        return True
    numbers = _NUMBER.findall(tail)
    return bool(numbers) and is_equivalent(numbers[-1], answer, "float")


def thinking_tail(text: str, tail_chars: int = 500) -> str:
    """V-Thinker's judge input: the thinking (up to `</think>`), image and sandbox-output tags
    removed (their content kept), last `tail_chars` characters."""
    thinking = text.split("</think>")[0].replace("<think>", "")
    for tag in ("<image>", "<sandbox_output>", "</sandbox_output>"):
        thinking = thinking.replace(tag, "")
    return thinking[-tail_chars:]


def consistency_reward(
    completions: Sequence[str], judge: Any = None, tail_chars: int = 300, **_: Any
) -> list[float | None]:
    """Reward contract: 1.0 where the reasoning tail agrees with the final answer (judge, else
    rule), 0.0 otherwise or without an answer."""
    from vrl.reward.judge_prompts import VTHINKER_CONSISTENCY
    from vrl.reward.judged import ask

    answers = [extract_answer(text) for text in completions]
    tails = [reasoning_tail(text, tail_chars) for text in completions]
    verdicts: list[bool | None] = [None] * len(completions)
    asked = [i for i, a in enumerate(answers) if a]
    if judge is not None and asked:
        solutions = [thinking_tail(completions[i], tail_chars) for i in asked]
        prompts = [
            VTHINKER_CONSISTENCY.format(solution=t, extracted=answers[i]) for t, i in zip(solutions, asked)
        ]
        answered = [answers[i] or "" for i in asked]
        for i, verdict in zip(asked, ask(judge, prompts, [QUESTION] * len(asked), solutions, answered)):
            verdicts[i] = verdict  # a judge outage (None) falls back to the rule below
    out: list[float | None] = []
    for answer, tail, verdict in zip(answers, tails, verdicts):
        if not answer:
            out.append(0.0)
        elif verdict is not None:
            out.append(float(verdict))
        else:
            out.append(float(rule_consistent(tail, answer)))
    return out
