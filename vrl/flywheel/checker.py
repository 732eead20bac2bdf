"""Checkers: execute an item's image code and every trajectory step in the sandbox, then judge it.

`RuleChecker`: the image renders and is valid (readable, sized, not blank); the stated answer
equals the answer re-derived from the facts the program printed (the template's solver, or the
program's own `"answer"` fact for free-form items); every step's image is coherent with the one
before (same size or a crop, changed but not repainted). `ModelChecker` keeps the execution
checks and asks a chat model whether the answer follows from the facts.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageStat

from vrl.data.schema import ANSWER_TYPES

from . import protocol as p
from .templates import TEMPLATES


def normalise(answer: Any) -> str:
    return " ".join(str(answer).strip().lower().rstrip(".").split())


def last_json(text: str) -> dict[str, Any]:
    """The last printed line that parses as a JSON object ({} if none)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return {}


class RuleChecker:
    """Accepts an item only if its code renders, its answer is re-derivable and its steps cohere.

    Args:
        min_size: smallest accepted image side (px).
        max_size: largest accepted image side (px).
        min_std: pixel standard deviation (summed over RGB) below which an image is blank.
        max_step_change: largest fraction of pixels one editing step may change (else it repainted).
    """

    def __init__(
        self, min_size: int = 16, max_size: int = 2048, min_std: float = 3.0, max_step_change: float = 0.6
    ):
        self.min_size, self.max_size, self.min_std, self.max_step_change = (
            min_size,
            max_size,
            min_std,
            max_step_change,
        )

    def check(self, candidate: p.Candidate, sandbox: Any, scratch: Path) -> p.Verdict:
        verdict = p.Verdict()
        result = sandbox.execute(candidate.image_code, [])
        if not result.ok or not result.images:
            verdict.reasons.append(p.REJECT_RENDER)
            return verdict
        verdict.checks.append("renders")
        data = Path(result.images[0]).read_bytes()
        image = _open(data)
        if image is None or not self._valid(image):
            verdict.reasons.append(p.REJECT_INVALID_IMAGE)
            return verdict
        verdict.image, verdict.checks = data, [*verdict.checks, "valid_image"]
        verdict.facts = last_json(result.text)
        self.check_answer(candidate, verdict)
        self.check_steps(candidate, Path(result.images[0]), image, sandbox, verdict)
        return verdict

    def check_answer(self, candidate: p.Candidate, verdict: p.Verdict) -> None:
        if candidate.answer_type not in ANSWER_TYPES or not str(candidate.answer).strip():
            verdict.reasons.append(p.REJECT_UNPARSEABLE)
            return
        template = TEMPLATES.get(candidate.spec.get("template", ""))
        if template is not None:
            try:
                derived, why = template.solve(candidate.spec["plan"], verdict.facts)
            except (KeyError, TypeError, ValueError, IndexError):
                derived, why = None, "facts missing"
            if derived is None:
                verdict.reasons.append(
                    p.REJECT_AMBIGUOUS if why != "facts missing" else p.REJECT_UNVERIFIABLE
                )
                return
        elif "answer" in verdict.facts:
            derived = str(verdict.facts["answer"])
        else:
            verdict.reasons.append(p.REJECT_UNVERIFIABLE)
            return
        verdict.derived_answer = derived
        if candidate.answer_type == "choice" and candidate.choices:
            letters = [chr(ord("A") + i) for i in range(len(candidate.choices))]
            if normalise(candidate.answer).upper() not in letters:
                verdict.reasons.append(p.REJECT_ANSWER)
                return
        if normalise(derived) != normalise(candidate.answer):
            verdict.reasons.append(p.REJECT_ANSWER)
            return
        verdict.checks.append("answer_verified")

    def check_steps(
        self, candidate: p.Candidate, path: Path, image: Image.Image, sandbox: Any, verdict: p.Verdict
    ) -> None:
        for step in candidate.trajectory:
            result = sandbox.execute(step.code, [path])
            edited = _open(Path(result.images[0]).read_bytes()) if result.ok and result.images else None
            if edited is None or not self._coherent(image, edited):
                verdict.reasons.append(p.REJECT_STEP)
                verdict.step_images = []
                return
            verdict.step_images.append(Path(result.images[0]).read_bytes())
            path, image = Path(result.images[0]), edited
        if candidate.trajectory:
            verdict.checks.append("steps_coherent")

    def _valid(self, image: Image.Image) -> bool:
        w, h = image.size
        if not (self.min_size <= min(w, h) and max(w, h) <= self.max_size):
            return False
        return sum(ImageStat.Stat(image.convert("RGB")).stddev) >= self.min_std

    def _coherent(self, before: Image.Image, after: Image.Image) -> bool:
        """A step edits the previous image: a non-blank crop of it, or the same size with some pixels changed."""
        if after.size != before.size:
            return after.size[0] <= before.size[0] and after.size[1] <= before.size[1] and self._valid(after)
        diff = ImageChops.difference(before.convert("RGB"), after.convert("RGB")).convert("L")
        changed = sum(1 for v in diff.getdata() if v > 0) / (before.size[0] * before.size[1])
        return 0 < changed <= self.max_step_change


class ModelChecker(RuleChecker):
    """The rule checker's execution checks, with the answer judged by a chat model from the facts.

    Args:
        chat: an `OpenAIChat` or `EngineChat`.
        prompt: str.format template with {question}, {answer}, {facts}; the reply must start with yes/no.
    """

    def __init__(self, chat: Any, prompt: str, **rule: Any) -> None:
        super().__init__(**rule)
        self.chat, self.prompt = chat, prompt

    def check_answer(self, candidate: p.Candidate, verdict: p.Verdict) -> None:
        reply = self.chat.complete(
            [
                self.prompt.format(
                    question=candidate.question, answer=candidate.answer, facts=json.dumps(verdict.facts)
                )
            ]
        )[0]
        word = normalise(reply).split(" ")[0].strip(".,!:") if reply.strip() else ""
        if word == "yes":
            verdict.checks.append("answer_verified_by_model")
        elif word == "no":
            verdict.reasons.append(p.REJECT_ANSWER)
        else:
            verdict.reasons.append(p.REJECT_UNVERIFIABLE)


def _open(data: bytes) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except Exception:  # any PIL decoder error means "not a valid image"
        return None
