"""Judges: who decides whether an extracted answer (or a generated image) is right.

MathVerse and VTBench score with an LLM judge in their official protocol (GPT-4 for
MathVerse; Qwen3 for V-Thinker's VTBench). vrl's default is the rule path (`RuleJudge`, or
`judge: null`), labelled "rule" in every ItemScore; a model judge is opt-in:

- `OpenAIJudge`: any OpenAI-compatible `/chat/completions` endpoint (vLLM serve, a hosted
  API), plain HTTP through urllib; images travel as base64 data URLs.
- `ModelJudge`: any object with `generate(prompts: list[str]) -> list[str]` (the rollout
  engines). Image judging needs `generate(prompts, images=...)`; without it, image requests
  fall back to the rule path.

A verdict is True/False, or None when the judge failed (HTTP error, timeout, unparseable
reply); callers then score with the rule path and label the item "rule_fallback".
"""

from __future__ import annotations

import base64
import inspect
import io
import json
import os
import re
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from vrl.answer.equivalence import is_equivalent


@dataclass(frozen=True)
class JudgeRequest:
    """One thing to judge: an answer against a gold answer, or images against a reference.

    For kind="image", `images` are (original, generated, reference) and `instruction` is the
    drawing instruction the generated image had to follow. `prompt`, when given, is the whole
    text the judge sees (a recipe's own judge prompt, already filled in); else the judge builds
    its default prompt from the other fields.
    """

    question: str
    gold: str
    extracted: str | None
    kind: str = "answer"
    instruction: str = ""
    images: tuple[Image.Image, ...] = field(default=(), compare=False)
    prompt: str = ""


class Judge(Protocol):
    name: str

    def judge_many(self, requests: list[JudgeRequest]) -> list[bool | None]: ...


# Paraphrase of MathVerse's stage-2 scoring prompt (evaluation/prompts.py, demo_prompt_score),
# reused by V-Thinker for VTBench reasoning: strict consistency, unit-aware, 0/1 verdict.
ANSWER_PROMPT = """You compare two answers to a math question: [Standard Answer] is correct and [Model_answer] was extracted from a model's output.
Decide whether they are consistent. They are consistent only if the model answer fully matches the standard answer; for non-multiple-choice questions the same value written differently also counts (for example 0.5m and 50cm). For multiple choice, the option letter or the option's full content both count. Be strict.
Reply with the judgement only: 1 if consistent, 0 if not.

[Question]: Write the set of numbers represented on the number line in interval notation.
[Standard Answer]: (-2,1]
[Model_answer]: (-2, 1)
Judgement: 0

[Question]: Two curves are symmetrical about the x-axis. Is this relation a function?\nChoices:\nA:This is a function\nB:This is not a function
[Standard Answer]: B
[Model_answer]: This is not a function
Judgement: 1

[Question]: {question}
[Standard Answer]: {gold}
[Model_answer]: {extracted}
Judgement: """

# Paraphrase of V-Thinker's VTBench perception / instruction-guided judge prompts
# (eval/vtbench_Perception/judge.py, eval/vtbench_IGI/judge.py).
IMAGE_PROMPT = """You are an expert visual evaluator. Three images follow: [Original Image] (before the instruction), [Generated Image] (produced by the model), [Ground Truth Image] (a correct reference).
Decide whether the marks or constructions added in the Generated Image correctly carry out the instruction, using the Ground Truth Image as the reference for the intended concept.
Judge the concept, not pixels: the right points, vertices, midpoints, intersections or auxiliary lines must be marked; small position errors and differences in colour, size or line style do not matter.
Output 0 if the marks are on the wrong features, missing or incomplete, or if the Generated Image is unchanged from the Original Image. Otherwise output 1. Output only 0 or 1.

[Instruction]: {instruction}
Judgement: """


def answer_prompt(req: JudgeRequest) -> str:
    if req.prompt:
        return req.prompt
    return ANSWER_PROMPT.format(question=req.question, gold=req.gold, extracted=req.extracted or "null")


_SCORE = re.compile(
    r"(?:Judge?ment|Correctness|Consistency|Validity)\W{0,4}[:：]\s*\"?([01])\b", re.IGNORECASE
)
_EQUIVALENCE = re.compile(r"Equivalence Judge?ment\W*(true|false)\b", re.IGNORECASE)


def parse_verdict(text: str | None) -> bool | None:
    """'1'/'0' at the start, or after 'Judgement:' (the official parsers' two rules); also a JSON
    score (`{"Correctness": 1}`, V-Thinker's reward judges) and `## Equivalence Judgement TRUE`
    (DeepEyes' math judge); else None."""
    if text is None:
        return None
    s = text.strip()
    if s[:1] in ("0", "1"):
        return s[0] == "1"
    m = _SCORE.search(s)
    if m:
        return m.group(1) == "1"
    m = _EQUIVALENCE.search(s)
    return m.group(1).lower() == "true" if m else None


class RuleJudge:
    """The default: no model. Answers are compared with `is_equivalent` ("expression" rules);
    image requests return None so the benchmark's own rule (pixel difference) decides."""

    name = "rule"

    def judge_many(self, requests: list[JudgeRequest]) -> list[bool | None]:
        return [
            None if r.kind != "answer" else is_equivalent(r.extracted or "", r.gold, "expression")
            for r in requests
        ]


class OpenAIJudge:
    """A judge behind an OpenAI-compatible chat endpoint (greedy, short replies).

    Args:
        base_url: e.g. "http://127.0.0.1:8000/v1" (a vLLM server) or a hosted API's /v1 URL.
        model: model name the endpoint serves.
        api_key_env: environment variable holding the key (unset: no Authorization header).
        timeout_s: per-request timeout; a timeout is a failed verdict (None), not a crash.
        max_tokens: reply budget; the verdict is one token.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_tokens: int = 8,
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.name = f"openai:{model}"

    def judge_many(self, requests: list[JudgeRequest]) -> list[bool | None]:
        return [parse_verdict(self._complete(r)) for r in requests]

    def _complete(self, req: JudgeRequest) -> str | None:
        if req.kind == "image":
            content: Any = [{"type": "text", "text": IMAGE_PROMPT.format(instruction=req.instruction)}]
            content[1:1] = [{"type": "image_url", "image_url": {"url": _data_url(im)}} for im in req.images]
        else:
            content = answer_prompt(req)
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0.0,
            "max_tokens": self.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(body).encode(), headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                return json.loads(resp.read())["choices"][0]["message"]["content"]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None  # network/HTTP/timeout/malformed reply: the caller falls back to rules


class ModelJudge:
    """A judge backed by an in-process engine with `generate(prompts) -> texts` (batched).

    Use `_partial_: true` in config: the eval stage passes the engine at run time.
    """

    def __init__(self, engine: Any, name: str = "model"):
        self.engine = engine
        self.name = name
        params = inspect.signature(engine.generate).parameters
        self._takes_images = "images" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())

    def judge_many(self, requests: list[JudgeRequest]) -> list[bool | None]:
        out: list[bool | None] = [None] * len(requests)
        text_idx = [i for i, r in enumerate(requests) if r.kind == "answer"]
        image_idx = [i for i, r in enumerate(requests) if r.kind == "image"] if self._takes_images else []
        try:
            if text_idx:
                replies = self.engine.generate([answer_prompt(requests[i]) for i in text_idx])
                for i, reply in zip(text_idx, replies):
                    out[i] = parse_verdict(reply)
            if image_idx:
                prompts = [IMAGE_PROMPT.format(instruction=requests[i].instruction) for i in image_idx]
                replies = self.engine.generate(prompts, images=[list(requests[i].images) for i in image_idx])
                for i, reply in zip(image_idx, replies):
                    out[i] = parse_verdict(reply)
        except Exception:  # an engine failure must not lose the eval: rule fallback for all
            return [None] * len(requests)
        return out


def _data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def is_rule(judge: Judge | None) -> bool:
    """True when scoring should take the rule path only."""
    return judge is None or isinstance(judge, RuleJudge)
