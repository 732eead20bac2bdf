"""VTBench (V-Thinker, arXiv 2511.04460): `We-Math/VTBench`, 500 items, three tasks.

Schema (HF card, split "train"): id, image (Image), annotation_perception (Image),
annotation_instruction (Image), question_perception, question_instruction,
answer_instruction, question_reasoning, answer_reasoning.

Tasks (one benchmark option each):
- perception: mark the asked-for points on the image (by code); the result image is judged
  against the original and the ground-truth annotation.
- instruction: draw the instructed auxiliary construction; judged the same way.
- reasoning: solve the question (with interaction); the final answer is judged for
  equivalence with `answer_reasoning`.
The official protocol judges all three with an LLM (V-Thinker `eval/vtbench_*/judge.py`).
Our default rule path, labelled "rule": reasoning uses option/number/math-verify
equivalence; the image tasks use a pixel rule, a proxy for the judge: the pixels the model
changed and the pixels the annotation changed (relative to the original, within a few pixels'
tolerance) must cover each other by at least half; an unchanged image or a missing one is wrong.
Image tasks need the generated image: pass `generated_images` to `score_many` (or
`generated_image` to `score`), or print `processed_path: <file>` in the response. They say so
with `needs_generated_images`: the eval stage then rolls them out through the tool loop and
passes the last image a tool returned (V-Thinker's eval judges the last code call's image).
Metrics: accuracy (percent), plus the share scored by a model judge.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from vrl.answer.equivalence import is_equivalent, option_equal
from vrl.answer.extraction import extract_answer_or_short
from vrl.answer.judge import JudgeRequest, is_rule
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.benchmark.mathverse import parse_inline_choices
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

TASKS = ("perception", "instruction", "reasoning")
PROMPTS = {
    "perception": "{question}\nWrite Python code that draws the requested marks on the image and saves the result.",
    "instruction": "{question}\nWrite Python code that draws the requested construction on the image and saves the result.",
    "reasoning": "{question}\nThink step by step (you may edit the image with code), then give the final answer "
    "within <answer></answer>.",
}
_PATH = re.compile(
    r"(?:processed_path|generated_image)\s*[:=]\s*['\"]?([^\s'\"<>]+\.(?:png|jpe?g))", re.IGNORECASE
)


class VTBench:
    """One VTBench task.

    Args:
        path: hub id or local copy.
        task: "perception", "instruction" or "reasoning".
        split: "train" (the only split).
        limit: first N items only.
        judge: None (rule path) or a judge from `vrl.answer.judge`.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
        prompt_template: `{question}`; default per task.
        pixel_tolerance: pixels of slack when matching changed regions (rule path).
    """

    def __init__(
        self,
        path: str = "We-Math/VTBench",
        task: str = "reasoning",
        split: str = "train",
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
        prompt_template: str | None = None,
        pixel_tolerance: int = 6,
    ):
        if task not in TASKS:
            raise ValueError(f"benchmark vtbench: task must be one of {TASKS}, got {task!r}")
        self.path, self.task, self.split, self.limit, self.judge = path, task, split, limit, judge
        self.name = f"vtbench_{task}"
        self.reference = plain(reference, {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 8192}))
        self.prompt_template = prompt_template or PROMPTS[task]
        self.pixel_tolerance = pixel_tolerance
        self.needs_generated_images = task in ("perception", "instruction")

    def load(self) -> Iterator[Sample | Skipped]:
        return limited(
            (self.to_sample(r) for r in load_rows(self.path, self.split, option=self.name)), self.limit
        )

    def to_sample(self, row: dict) -> Sample | Skipped:
        rid = str(row["id"])
        image = to_image(row.get("image"), row.get("_root"))
        if image is None:
            return Skipped("missing_image", rid)
        question = row.get(f"question_{self.task}")
        if not question:
            return Skipped("missing_question", rid)
        meta: dict = {"task": self.task}
        if self.task == "reasoning":
            answer = str(row.get("answer_reasoning") or "").strip()
            if not answer:
                return Skipped("missing_answer", rid)
            choices = parse_inline_choices(question)
            answer_type = "choice" if choices and len(answer) == 1 and answer.isalpha() else "expression"
        else:
            annotation = to_image(row.get(f"annotation_{self.task}"), row.get("_root"))
            if annotation is None:
                return Skipped("missing_annotation", rid)
            answer, answer_type, choices = str(row.get(f"answer_{self.task}") or ""), "text", []
            meta["reference_png"] = _png_b64(annotation)  # JSON-safe, travels with the sample
        return Sample(
            id=f"{self.name}/{rid}",
            images=[image],
            prompt=user_prompt("<image>\n" + self.prompt_template.format(question=question)),
            answer=answer,
            answer_type=answer_type,
            choices=choices,
            category=self.task,
            source="hf:We-Math/VTBench",
            metadata=meta,
        )

    def score(
        self, response: str, sample: Sample, generated_image: Image.Image | str | None = None
    ) -> ItemScore:
        return self.score_many([response], [sample], [generated_image])[0]

    def score_many(
        self, responses: list[str], samples: list[Sample], generated_images: list | None = None
    ) -> list[ItemScore]:
        generated_images = generated_images or [None] * len(responses)
        if self.task == "reasoning":
            extracted = [extract_answer_or_short(r) for r in responses]
            rule = [e is not None and _answer_correct(e, s) for e, s in zip(extracted, samples)]
            requests = [
                JudgeRequest(s.question, s.answer, e) if e is not None else None
                for e, s in zip(extracted, samples)
            ]
            details: list[dict] = [{} for _ in samples]
        else:
            gens = [_generated(g, r) for g, r in zip(generated_images, responses)]
            extracted = ["<image>" if g is not None else None for g in gens]
            checks = [
                image_marks_match(s.images[0], g, _reference(s), self.pixel_tolerance)
                if g is not None
                else (False, {"reason": "no_image"})
                for g, s in zip(gens, samples)
            ]
            rule, details = [c for c, _ in checks], [d for _, d in checks]
            requests = [
                JudgeRequest(
                    s.question, s.answer, "<image>", "image", s.question, (s.images[0], g, _reference(s))
                )
                if g is not None
                else None
                for g, s in zip(gens, samples)
            ]
        if is_rule(self.judge):
            return [ItemScore(e, c, float(c), details=d) for e, c, d in zip(extracted, rule, details)]
        ask = [i for i, r in enumerate(requests) if r is not None]  # nothing to judge -> wrong
        verdicts = dict(zip(ask, self.judge.judge_many([requests[i] for i in ask])))
        out = []
        for i, (e, c) in enumerate(zip(extracted, rule)):
            v = verdicts.get(i)
            if requests[i] is None:
                out.append(ItemScore(e, False, 0.0, "rule"))
            elif v is None:
                out.append(ItemScore(e, c, float(c), "rule_fallback", details[i]))
            else:
                out.append(ItemScore(e, v, float(v), self.judge.name, {"rule_correct": c}))
        return out

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        return accuracy_metrics(items)


def _answer_correct(extracted: str, sample: Sample) -> bool:
    if sample.answer_type == "choice":
        return option_equal(extracted, sample.answer, sample.choices)
    return is_equivalent(extracted, sample.answer, "expression")


def _generated(value, response: str) -> Image.Image | None:
    if value is not None:
        return to_image(value)
    found = [p for p in _PATH.findall(response) if Path(p).exists()]
    return to_image(found[-1]) if found else None


def _reference(sample: Sample) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(sample.metadata["reference_png"])))


def _png_b64(image: Image.Image, max_side: int = 768) -> str:
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _changed(original: Image.Image, other: Image.Image, threshold: int = 40) -> np.ndarray:
    a = np.asarray(original.convert("RGB"), dtype=np.int16)
    b = np.asarray(other.convert("RGB").resize(original.size), dtype=np.int16)
    return np.abs(a - b).max(axis=2) > threshold


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * radius + 1))
    return np.asarray(img) > 0


def image_marks_match(
    original: Image.Image,
    generated: Image.Image,
    reference: Image.Image,
    tolerance: int = 6,
    min_cover: float = 0.5,
) -> tuple[bool, dict]:
    """Pixel rule for VTBench image tasks: the model's changes and the annotation's changes
    (both relative to the original, at the original's size) must each cover at least
    `min_cover` of the other within `tolerance` pixels. No change at all is wrong."""
    original = original.convert("RGB")
    if reference.size != original.size:
        original_small = original.resize(reference.size)
        original, generated = original_small, generated.resize(reference.size)
    gen, ref = _changed(original, generated), _changed(original, reference)
    if not gen.any():
        return False, {"reason": "unchanged"}
    if not ref.any():
        return False, {"reason": "empty_reference"}
    recall = float((_dilate(gen, tolerance) & ref).sum() / ref.sum())
    precision = float((_dilate(ref, tolerance) & gen).sum() / gen.sum())
    return recall >= min_cover and precision >= min_cover, {"recall": recall, "precision": precision}
