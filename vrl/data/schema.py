"""The one sample schema every data source, benchmark and stage speaks.

A `Sample` is a verifiable multimodal problem: some images, a chat prompt whose text marks
image positions with the `<image>` placeholder, and a gold answer. Everything downstream
(SFT collation, rollouts, rewards, benchmark scorers) reads these fields and nothing else;
source-specific extras travel in `metadata` (JSON-serialisable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

IMAGE_PLACEHOLDER = "<image>"

# answer_type values the scorers and rewards understand.
ANSWER_TYPES = ("integer", "float", "text", "choice", "expression", "coordinates", "list")


@dataclass
class Sample:
    """One problem.

    Attributes:
        id: unique within its source, stable across runs (e.g. "procedural/count/17").
        images: PIL images, in the order their `<image>` placeholders appear.
        prompt: chat messages `[{"role": "system"|"user"|"assistant", "content": str}]`;
            `<image>` marks where an image goes. If no placeholder is present the images are
            placed before the text of the first user message.
        answer: the gold answer as a string (for choice questions: the option letter).
        answer_type: one of ANSWER_TYPES.
        choices: option texts for multiple choice, in letter order (A, B, ...); else [].
        category: task family used for per-category metrics (e.g. "count", "chart").
        source: where it came from (e.g. "procedural", "hf:TIGER-Lab/ViRL39K").
        metadata: anything else, JSON-serialisable (difficulty, seed, code, units, ...).
        response: an SFT target given as segments `{"text": str, "trainable": bool}`, in order
            (empty = the SFT stage renders its response_template). A tool trajectory alternates
            trainable policy text with untrainable tool output; `<image>` in a segment's text
            marks where the next of `response_images` goes (e.g. a sandbox's output image).
        response_images: images produced inside `response`, in placeholder order; never part
            of the prompt.
    """

    id: str
    images: list[Image.Image]
    prompt: list[dict[str, str]]
    answer: str
    answer_type: str = "text"
    choices: list[str] = field(default_factory=list)
    category: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    response: list[dict[str, Any]] = field(default_factory=list)
    response_images: list[Image.Image] = field(default_factory=list)

    @property
    def question(self) -> str:
        """Text of the last user message (handy for logging and judges)."""
        users = [m["content"] for m in self.prompt if m["role"] == "user"]
        return users[-1] if users else ""

    def to_record(self) -> dict[str, Any]:
        """A flat dict matching `hf_features()` (metadata serialised to JSON)."""
        return {
            "id": self.id,
            "images": list(self.images),
            "prompt": [{"role": m["role"], "content": m["content"]} for m in self.prompt],
            "answer": self.answer,
            "answer_type": self.answer_type,
            "choices": list(self.choices),
            "category": self.category,
            "source": self.source,
            "metadata": json.dumps(self.metadata, sort_keys=True, default=str),
            "response": [{"text": str(s["text"]), "trainable": bool(s["trainable"])} for s in self.response],
            "response_images": list(self.response_images),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Sample:
        """Inverse of `to_record` (accepts a row of a materialised `datasets.Dataset`)."""
        meta = record.get("metadata") or "{}"
        return cls(
            id=record["id"],
            images=[_as_pil(im) for im in (record.get("images") or [])],
            prompt=[dict(m) for m in record["prompt"]],
            answer=record["answer"],
            answer_type=record.get("answer_type") or "text",
            choices=list(record.get("choices") or []),
            category=record.get("category") or "",
            source=record.get("source") or "",
            metadata=json.loads(meta) if isinstance(meta, str) else dict(meta),
            response=[dict(s) for s in (record.get("response") or [])],
            response_images=[_as_pil(im) for im in (record.get("response_images") or [])],
        )


@dataclass(frozen=True)
class Skipped:
    """A record a source could not turn into a `Sample`; counted by reason, never fatal."""

    reason: str  # short, stable, groupable: "missing_image", "unreadable_image", "missing_answer", ...
    record_id: str
    detail: str = ""


def hf_features():
    """`datasets.Features` of a materialised sample dataset (images stored as `Image`)."""
    from datasets import Features, List, Value
    from datasets import Image as HFImage

    return Features(
        {
            "id": Value("string"),
            "images": List(HFImage()),
            "prompt": List({"role": Value("string"), "content": Value("string")}),
            "answer": Value("string"),
            "answer_type": Value("string"),
            "choices": List(Value("string")),
            "category": Value("string"),
            "source": Value("string"),
            "metadata": Value("string"),
            "response": List({"text": Value("string"), "trainable": Value("bool")}),
            "response_images": List(HFImage()),
        }
    )


def chat_messages(sample: Sample) -> list[dict[str, Any]]:
    """The prompt in the processor's chat format: content parts `{"type": "image"}` / `{"type": "text"}`.

    `<image>` placeholders are replaced in order; images without a placeholder go before the
    text of the first user message.
    """
    placed = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in sample.prompt)
    unplaced = max(0, len(sample.images) - placed)
    messages: list[dict[str, Any]] = []
    first_user = True
    for message in sample.prompt:
        parts: list[dict[str, str]] = []
        if message["role"] == "user" and first_user:
            parts.extend({"type": "image"} for _ in range(unplaced))
            first_user = False
        for i, chunk in enumerate(message["content"].split(IMAGE_PLACEHOLDER)):
            if i > 0:
                parts.append({"type": "image"})
            if chunk.strip():
                parts.append({"type": "text", "text": chunk.strip()})
        messages.append({"role": message["role"], "content": parts})
    return messages


def _as_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, dict) and image.get("bytes") is not None:
        import io

        return Image.open(io.BytesIO(image["bytes"]))
    if isinstance(image, dict) and image.get("path"):
        return Image.open(image["path"])
    if isinstance(image, str):
        return Image.open(image)
    raise TypeError(f"cannot turn {type(image).__name__} into a PIL image")
