"""DeepEyes' reward, as its release computes it (Visual-Agent/DeepEyes @ 6c5e796,
verl/utils/reward_score/vl_agent.py; dispatched on `data_source` by
verl/utils/reward_score/__init__.py).

Tool rows (`vstar`, `chart`, ...; `compute_score`):

    reward = 0.8 acc + 0.2 format + 1.2 tool
    acc    = the judge's 0/1 on the text between the last `<answer>` and `</answer>`
             (0, and a format error, if that text is 1,000 characters or more)
    format = -1 if <think>/</think> counts differ, or after the last </think> the <answer> and
             </answer> counts differ (or the answer is too long); else 0
    tool   = 1 if a tool image came back in the response and acc = 1; else 0

Math rows (`thinklite_eureka`, `xince`; `compute_score_math`):

    reward = 1.2 acc + 0.4 format
    acc    = 1 if the last \\boxed{} after </think> matches (math-verify, else the math judge)
    format = -1 if the <think> tags are unbalanced, or there is no \\boxed{} or more than one

(The release also counts vision tokens in the text for the format and the tool terms; vrl's
responses carry tool images as `tool_images`, so the tool term counts those.) A failed judge
gives None (counted by the pool). Without a judge the rule decides (`answer_is_correct`), which
rejects DeepEyes' free-form gold answers ("The countertop is tan." vs "tan") that the judge
accepts: a labelled fallback, warned about once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from vrl.answer.final import answer_is_correct
from vrl.reward.judge_prompts import DEEPEYES_ACCURACY, DEEPEYES_MATH
from vrl.reward.judged import ask, column, judge_question, warn_rule_fallback

MATH_SOURCES = ("thinklite_eureka", "xince")
_BOXED = re.compile(r"\\boxed{([^}]+)}", re.DOTALL)  # the release's (flat) boxed pattern


def _rule_type(answer_type: str, math: bool) -> str:
    """Math rows go through math-verify (the release's `rule_math_verify`) unless they are choices."""
    return "expression" if math and answer_type == "text" else answer_type


def agent_parts(text: str, max_answer_chars: int = 1000) -> tuple[str, bool]:
    """(answer text, format error) for a tool row, as `compute_score` reads them."""
    error = text.count("<think>") != text.count("</think>")
    after = text.split("</think>")[-1].strip()
    error = error or after.count("<answer>") != after.count("</answer>")
    answer = text.split("<answer>")[-1].split("</answer>")[0].strip()
    return answer, error or len(answer) >= max_answer_chars


def math_parts(text: str) -> tuple[str, bool]:
    """(last boxed answer or "", format error) for a math row, as `compute_score_math` reads them."""
    error = text.count("<think>") != text.count("</think>")
    boxed = _BOXED.findall(text.split("</think>")[-1].strip())
    return (boxed[-1] if boxed else ""), error or len(boxed) != 1


def deepeyes_format_reward(
    completions: Sequence[str],
    metadata: Sequence[Mapping[str, Any]] | None = None,
    math_sources: Sequence[str] = MATH_SOURCES,
    max_answer_chars: int = 1000,
    **_: Any,
) -> list[float | None]:
    """Reward contract: DeepEyes' format term alone, -1.0 on a format error else 0.0 (logged)."""
    metas = column(metadata, len(completions), {})
    out: list[float | None] = []
    for text, meta in zip(completions, metas):
        math = (meta or {}).get("data_source") in math_sources
        _, error = math_parts(text) if math else agent_parts(text, max_answer_chars)
        out.append(-1.0 if error else 0.0)
    return out


def deepeyes_reward(
    completions: Sequence[str],
    answer: Sequence[str],
    answer_type: Sequence[str] | None = None,
    choices: Sequence[Sequence[str]] | None = None,
    question: Sequence[str] | None = None,
    metadata: Sequence[Mapping[str, Any]] | None = None,
    tool_images: Sequence[int] | None = None,
    judge: Any = None,
    acc_weight: float = 0.8,
    format_weight: float = 0.2,
    tool_weight: float = 1.2,
    math_sources: Sequence[str] = MATH_SOURCES,
    math_acc_weight: float = 1.2,
    math_format_weight: float = 0.4,
    max_answer_chars: int = 1000,
    **_: Any,
) -> list[float | None]:
    """Reward contract: DeepEyes' total reward per response (the module docstring's formulas).

    Args:
        completions, answer, answer_type, choices: responses and their gold answers.
        question, metadata: the judge sees `metadata["question"]` (DeepEyes' `extra_info.question`);
            `metadata["data_source"]` picks the tool-row or the math-row formula.
        tool_images: images the tool returned per response.
        judge: None (rule fallback) or an object with `judge_many` (e.g. `OpenAIJudge`).
        acc_weight, format_weight, tool_weight: the tool rows' weights (0.8, 0.2, 1.2).
        math_sources, math_acc_weight, math_format_weight: the math rows and their weights (1.2, 0.4).
        max_answer_chars: a tool row's answer this long scores acc 0 and a format error.
    """
    n = len(completions)
    types, options = column(answer_type, n, "text"), column(choices, n, [])
    metas = [m or {} for m in column(metadata, n, {})]
    questions = [judge_question(q, m) for q, m in zip(column(question, n, ""), metas)]
    images = column(tool_images, n, 0)
    math = [m.get("data_source") in math_sources for m in metas]
    parts = [math_parts(t) if m else agent_parts(t, max_answer_chars) for t, m in zip(completions, math)]
    acc: list[float | None] = []
    ask_rows: list[int] = []
    for i, (pred, _) in enumerate(parts):
        too_long = not math[i] and len(pred) >= max_answer_chars
        if not pred or too_long:
            acc.append(0.0)
        elif answer_is_correct(
            f"<answer>{pred}</answer>", answer[i], _rule_type(types[i], math[i]), options[i]
        ):
            acc.append(1.0)  # math rows: the release's rule (math-verify) first; tool rows: the judge decides
            if not math[i]:
                ask_rows.append(i)
        else:
            acc.append(0.0)
            ask_rows.append(i)
    if judge is not None and ask_rows:
        prompts = [
            (DEEPEYES_MATH if math[i] else DEEPEYES_ACCURACY).format(
                question=questions[i], gold=answer[i], extracted=parts[i][0]
            )
            for i in ask_rows
        ]
        verdicts = ask(
            judge,
            prompts,
            [questions[i] for i in ask_rows],
            [answer[i] for i in ask_rows],
            [parts[i][0] for i in ask_rows],
        )
        for i, verdict in zip(ask_rows, verdicts):
            acc[i] = None if verdict is None else float(verdict)
    elif ask_rows:
        warn_rule_fallback("deepeyes")
    out: list[float | None] = []
    for i, (a, (_, error)) in enumerate(zip(acc, parts)):
        if a is None:
            out.append(None)
        elif math[i]:
            out.append(math_acc_weight * a - math_format_weight * error)
        else:
            tool = 1.0 if images[i] > 0 and a > 0.5 else 0.0
            out.append(acc_weight * a - format_weight * error + tool_weight * tool)
    return out
