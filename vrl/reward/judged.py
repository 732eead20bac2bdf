"""Judge plumbing the recipes' rewards share: which question a judge sees, asking it, and saying
once when there is no judge and the rule decides instead.

A judge is anything with `judge_many(requests) -> [bool | None]` (`vrl.answer.judge.OpenAIJudge`
for an OpenAI-compatible endpoint). A reward function asks it only where the rule did not
already decide; a failed verdict (None) stays None, so the pool counts it
(`reward/<name>/none_frac`) instead of passing a guess off as a score.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger("vrl")
_WARNED: set[str] = set()


def judge_question(question: str | None, metadata: Mapping[str, Any] | None) -> str:
    """The question a judge is shown: the bare one a source kept in `metadata["question"]` (not the
    prompt's instructions around it), else the prompt's user text."""
    bare = (metadata or {}).get("question")
    return str(bare if bare else question or "")


def column(values: Sequence[Any] | None, n: int, default: Any = None) -> list[Any]:
    """A per-completion field as a list of n (the default where the field is absent)."""
    return list(values) if values is not None else [default] * n


def ask(
    judge: Any, prompts: Sequence[str], questions: Sequence[str], golds: Sequence[str], answers: Sequence[str]
):
    """Verdicts (True/False/None) for filled-in judge prompts; all None if the judge raises."""
    from vrl.answer.judge import JudgeRequest

    requests = [
        JudgeRequest(question=q, gold=g, extracted=a, prompt=p)
        for p, q, g, a in zip(prompts, questions, golds, answers)
    ]
    if not requests:
        return []
    try:
        return list(judge.judge_many(requests))
    except Exception as error:  # noqa: BLE001 - a judge outage is counted, never fatal
        log.warning("reward judge failed: %s: %s", type(error).__name__, error)
        return [None] * len(requests)


def warn_rule_fallback(reward: str) -> None:
    """Say once per process that `reward` decides by rule because no judge is configured."""
    if reward not in _WARNED:
        _WARNED.add(reward)
        log.warning(
            "reward %s: no judge configured (reward.functions.<name>.judge); the rule fallback decides "
            "where the paper asks a judge",
            reward,
        )
