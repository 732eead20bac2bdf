"""Repairers: rewrite the text of items whose image and code are fine but whose answer is wrong.

`RuleRepairer` replaces the answer with the one the checker re-derived from the rendered
scene; `ModelRepairer` asks a chat model to rewrite question and answer from the facts. Both
return a new candidate (`repaired=True`) that the flywheel checks again from scratch.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .parsing import parse_json_object
from .protocol import Candidate, Verdict


class RuleRepairer:
    """Sets the answer to the checker's re-derived answer (the question already names what to find)."""

    def repair(self, candidate: Candidate, verdict: Verdict) -> Candidate | None:
        if not verdict.text_only or verdict.derived_answer is None:
            return None
        return dataclasses.replace(candidate, answer=verdict.derived_answer, repaired=True)


class ModelRepairer:
    """Asks a chat model for `{"question": ..., "answer": ...}` consistent with the scene facts.

    Args:
        chat: an `OpenAIChat` or `EngineChat`.
        prompt: str.format template with {question}, {answer}, {facts}.
    """

    def __init__(self, chat: Any, prompt: str) -> None:
        self.chat, self.prompt = chat, prompt

    def repair(self, candidate: Candidate, verdict: Verdict) -> Candidate | None:
        if not verdict.text_only:
            return None
        reply = self.chat.complete(
            [
                self.prompt.format(
                    question=candidate.question, answer=candidate.answer, facts=json.dumps(verdict.facts)
                )
            ]
        )[0]
        fixed = parse_json_object(reply)
        if not fixed or not str(fixed.get("answer", "")).strip():
            return None
        question = str(fixed.get("question") or candidate.question)
        return dataclasses.replace(
            candidate, question=question, answer=str(fixed["answer"]).strip(), repaired=True
        )
