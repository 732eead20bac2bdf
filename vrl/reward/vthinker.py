"""V-Thinker's format and accuracy rewards, as its release computes them (We-Math/V-Thinker @
77a5ab8, scripts/plugin/agent_rm.py, `FMTORM` and `VQAORM`; weights in `conf/reward/vthinker.yaml`).

Accuracy (`vthinker_accuracy_reward`), for the content of the first `<answer>...</answer>`:

| response                                            | reward          |
|-----------------------------------------------------|-----------------|
| no answer, or an empty one                          | 0               |
| the rule matches the gold answer                    | +1              |
| else the judge says 1 / 0                           | +1 / -1         |
| else the judge gave no verdict                      | None (counted)  |
| else no judge configured: rule fallback             | -1              |

The release maps the judge's 0/1 to -1/+1 (`VQA_NORM=1`) but not the rule's hit, and gives 0 when
its judge fails; vrl returns None there so the pool counts the failure (`none_frac`; a None adds 0
to the total, as the release's 0 does). Without a judge the rule decides alone, which scores
answers a judge would accept in other words as -1: a labelled fallback, warned about once.

Format (`vthinker_format`): the release's pattern, `...</think>` + one whitespace character +
`<answer>...</answer>` at the very end, each of the four tags exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from vrl.answer.final import answer_is_correct
from vrl.reward.judge_prompts import VTHINKER_ACCURACY
from vrl.reward.judged import ask, column, judge_question, warn_rule_fallback

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FORMAT = re.compile(r"^(?:(?!</think>).)*</think>\s<answer>(?:(?!</answer>).)*</answer>\Z", re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def first_answer(text: str) -> str:
    """The stripped content of the first `<answer>...</answer>` ("" if none): V-Thinker's extraction."""
    match = _ANSWER.search(text)
    return match.group(1).strip() if match else ""


def has_vthinker_format(text: str) -> bool:
    """V-Thinker's `format_check`."""
    return _FORMAT.fullmatch(text) is not None and all(text.count(tag) == 1 for tag in _TAGS)


def vthinker_format(completions: Sequence[str], **_: Any) -> list[float | None]:
    """Reward contract: 1.0 per response in V-Thinker's format, else 0.0 (weighted 0.5)."""
    return [1.0 if has_vthinker_format(text) else 0.0 for text in completions]


def vthinker_accuracy_reward(
    completions: Sequence[str],
    answer: Sequence[str],
    answer_type: Sequence[str] | None = None,
    choices: Sequence[Sequence[str]] | None = None,
    question: Sequence[str] | None = None,
    metadata: Sequence[Mapping[str, Any]] | None = None,
    judge: Any = None,
    correct: float = 1.0,
    wrong: float = -1.0,
    no_answer: float = 0.0,
    prompt: str = VTHINKER_ACCURACY,
    **_: Any,
) -> list[float | None]:
    """Reward contract for the table in the module docstring.

    Args:
        completions, answer, answer_type, choices: responses and their gold answers.
        question, metadata: the prompt's user text and the sample's metadata (the judge sees
            `metadata["question"]`, the bare question, when a source kept it).
        judge: None (rule fallback) or an object with `judge_many` (e.g. `OpenAIJudge`).
        correct, wrong, no_answer: the table's values.
        prompt: the judge prompt, `{question}`, `{extracted}`, `{gold}` filled in.
    """
    n = len(completions)
    types, options = column(answer_type, n, "text"), column(choices, n, [])
    questions = [judge_question(q, m) for q, m in zip(column(question, n, ""), column(metadata, n, {}))]
    preds = [first_answer(text) for text in completions]
    out: list[float | None] = []
    ask_rows: list[int] = []
    for i, (pred, gold) in enumerate(zip(preds, answer)):
        if not pred:
            out.append(no_answer)
        elif answer_is_correct(f"<answer>{pred}</answer>", gold, types[i], options[i]):
            out.append(correct)
        else:
            out.append(wrong)  # the rule fallback's verdict, replaced below by the judge's
            ask_rows.append(i)
    if judge is None:
        if ask_rows:
            warn_rule_fallback("vthinker_accuracy")
        return out
    prompts = [prompt.format(question=questions[i], extracted=preds[i], gold=answer[i]) for i in ask_rows]
    verdicts = ask(
        judge,
        prompts,
        [questions[i] for i in ask_rows],
        [answer[i] for i in ask_rows],
        [preds[i] for i in ask_rows],
    )
    for i, verdict in zip(ask_rows, verdicts):
        out[i] = None if verdict is None else (correct if verdict else wrong)
    return out
