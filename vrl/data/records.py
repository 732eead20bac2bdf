"""Turn one raw record (a row of an HF dataset, a JSONL line, a Parquet row) into a `Sample`.

Shared by `HFSource`, `JsonlSource` and `ParquetSource`. A record that cannot become a sample
gives a `Skipped` with one of the `SKIP_*` reasons below and never raises.

`columns` maps a schema field to the record's column:
    id, question (user text; `<image>` marks images), prompt (chat messages, instead of
    question), images (one image or a list: PIL, bytes, {"bytes", "path"} dicts, or paths
    relative to `image_root`), answer, answer_type, choices, category.
Columns not mapped go to `metadata`.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from vrl.errors import ConfigError

from .schema import ANSWER_TYPES, IMAGE_PLACEHOLDER, Sample, Skipped

# Skip reasons: short and stable (reports group by them; tests and dashboards match them).
SKIP_MISSING_IMAGE = "missing_image"  # a path that does not exist, or fewer images than <image> marks
SKIP_UNREADABLE_IMAGE = "unreadable_image"  # bytes or a file PIL cannot decode
SKIP_MISSING_ANSWER = "missing_answer"  # no answer, or an empty one
SKIP_MISSING_QUESTION = "missing_question"  # no question/prompt text
SKIP_BAD_FIELD_TYPE = "bad_field_type"  # a field of the wrong type (e.g. a dict answer)
SKIP_BAD_ANSWER_TYPE = "bad_answer_type"  # answer_type not in ANSWER_TYPES
SKIP_BAD_JSON = "bad_json"  # a JSONL line that does not parse
SKIP_BAD_ENCODING = "bad_encoding"  # a JSONL line that is not UTF-8 (never decoded with replacements)
SKIP_ASPECT_RATIO = "image_aspect_ratio"  # an image too long and thin for the model (materialize)
SKIP_IMAGE_TOO_LARGE = "image_too_large"  # an image with more pixels than the limit (materialize)

FIELDS = ("id", "question", "prompt", "images", "answer", "answer_type", "choices", "category")
# Used when a column of that name exists; a field named in `columns` must exist.
DEFAULT_COLUMNS = {
    "id": "id",
    "question": "question",
    "prompt": "prompt",
    "images": "images",
    "answer": "answer",
    "answer_type": "answer_type",
    "choices": "choices",
    "category": "category",
}
AUTO = "auto"  # answer_type inferred per record, see `infer_answer_type`


class _Skip(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def resolve_columns(
    columns: Mapping[str, str] | None, available: list[str], key: str = "columns"
) -> dict[str, str]:
    """Schema field -> column, checked against the record's columns. ConfigError on a bad entry."""
    columns = dict(columns or {})
    for field_name, column in columns.items():
        if field_name not in FIELDS:
            raise ConfigError(f"{key}.{field_name}: not a schema field; map one of: {', '.join(FIELDS)}")
        if column not in available:
            raise ConfigError(
                f"{key}.{field_name}: column {column!r} not in the data; columns: {', '.join(available)}"
            )
    resolved = {f: c for f, c in DEFAULT_COLUMNS.items() if f not in columns and c in available}
    if "question" in columns or "prompt" in columns:  # a mapped text field wins over a same-named column
        for text_field in ("question", "prompt"):
            resolved.pop(text_field, None)
    resolved.update(columns)
    if "answer" not in resolved:
        raise ConfigError(f"{key}.answer: no answer column; set it to one of: {', '.join(available)}")
    if "question" not in resolved and "prompt" not in resolved:
        raise ConfigError(f"{key}.question: no question column; set it to one of: {', '.join(available)}")
    return resolved


def check_answer_type(answer_type: str, key: str = "answer_type") -> str:
    if answer_type != AUTO and answer_type not in ANSWER_TYPES:
        raise ConfigError(f"{key}: {answer_type!r} is not one of: {', '.join((AUTO, *ANSWER_TYPES))}")
    return answer_type


def strip_boxed(answer: str) -> str:
    r"""`\boxed{x}` -> `x` when the whole answer is one boxed expression; else unchanged."""
    text = answer.strip()
    match = re.match(r"\\boxed\s*\{", text)
    if not match or not text.endswith("}"):
        return text
    depth = 0
    for i in range(match.end() - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[match.end() : i].strip() if i == len(text) - 1 else text
    return text


_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_LETTER = re.compile(r"[A-J]")
_MATHY = re.compile(r"[\\^_{}=/*+]|\d")


def infer_answer_type(answer: str) -> str:
    """integer / float / choice (a single letter A-J) / expression (digits or LaTeX-ish) / text."""
    if _INT.fullmatch(answer):
        return "integer"
    if _FLOAT.fullmatch(answer):
        return "float"
    if _LETTER.fullmatch(answer):
        return "choice"
    if _MATHY.search(answer):
        return "expression"
    return "text"


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white (not black, as a bare convert would),
    and high bit-depth pixels (16-bit PNG, 32-bit integer, float) scaled to 8 bits (a bare
    convert clips them: a mid-grey 16-bit PNG would turn white, a [0, 1] float image black)."""
    if image.mode == "RGB":
        return image
    if image.mode in _HIGH_DEPTH or image.mode.startswith("I;16"):
        image = _to_8_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


_HIGH_DEPTH = ("I", "F")


def _to_8_bit(image: Image.Image) -> Image.Image:
    """A single-channel 16-bit, 32-bit integer or float image as 8-bit grey ("L").

    16-bit modes span 0..65535. Integer and float images have no fixed range, so it is read
    from the values: within 0..1 (floats) or 0..255 they are kept, within 0..65535 they are
    16-bit, anything else is stretched from its minimum to its maximum."""
    import numpy as np

    values = np.nan_to_num(np.asarray(image, dtype=np.float64))
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16"):
        scaled = values / 257.0
    elif low >= 0 and high <= 1 and image.mode == "F":
        scaled = values * 255.0
    elif low >= 0 and high <= 255:
        scaled = values
    elif low >= 0 and high <= 65535:
        scaled = values / 257.0
    else:
        scaled = (values - low) * (255.0 / (high - low))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def _json_safe(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class RecordConverter:
    """Record (dict) -> `Sample | Skipped`, for one source.

    Args:
        columns: schema field -> column (already checked with `resolve_columns`).
        image_root: directory relative image paths are resolved against (None: cwd).
        answer_type: default answer_type, or "auto" to infer it per record.
        source: the `Sample.source` string.
        strip_boxed: take `x` out of an answer written as `\\boxed{x}`.
    """

    def __init__(
        self,
        columns: dict[str, str],
        image_root: str | Path | None,
        answer_type: str,
        source: str,
        strip_boxed: bool = True,
    ):
        self.columns = columns
        self.image_root = Path(image_root) if image_root is not None else None
        self.answer_type = answer_type
        self.source = source
        self.strip_boxed = strip_boxed
        self._used = set(columns.values())

    def __call__(self, record: Any, index: int) -> Sample | Skipped:
        record_id = str(index)
        try:
            if not isinstance(record, Mapping):
                raise _Skip(SKIP_BAD_FIELD_TYPE, f"record is a {type(record).__name__}, not an object")
            record_id = self._id(record, index)
            return self._convert(record, record_id)
        except _Skip as skip:
            return Skipped(reason=skip.reason, record_id=record_id, detail=skip.detail)

    def _get(self, record: Mapping[str, Any], field_name: str) -> Any:
        column = self.columns.get(field_name)
        return record.get(column) if column is not None else None

    def _id(self, record: Mapping[str, Any], index: int) -> str:
        value = self._get(record, "id")
        return str(index) if value is None or value == "" else str(value)

    def _convert(self, record: Mapping[str, Any], record_id: str) -> Sample:
        prompt = self._prompt(record)
        answer = self._answer(record)
        answer_type = self._get(record, "answer_type") or self.answer_type
        if not isinstance(answer_type, str):
            raise _Skip(SKIP_BAD_FIELD_TYPE, f"answer_type is a {type(answer_type).__name__}")
        if answer_type == AUTO:
            answer_type = infer_answer_type(answer)
        if answer_type not in ANSWER_TYPES:
            raise _Skip(SKIP_BAD_ANSWER_TYPE, f"answer_type {answer_type!r}")
        images = [self._image(value) for value in _as_list(self._get(record, "images"))]
        marks = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in prompt)
        if marks > len(images):
            raise _Skip(SKIP_MISSING_IMAGE, f"{marks} {IMAGE_PLACEHOLDER} marks but {len(images)} images")
        category = self._get(record, "category")
        return Sample(
            id=record_id,
            images=images,
            prompt=prompt,
            answer=answer,
            answer_type=answer_type,
            choices=self._choices(record),
            category="" if category is None else str(category),
            source=self.source,
            metadata={k: _json_safe(v) for k, v in record.items() if k not in self._used and not _is_blob(v)},
        )

    def _prompt(self, record: Mapping[str, Any]) -> list[dict[str, str]]:
        if "prompt" in self.columns and self._get(record, "prompt") is not None:
            messages = self._get(record, "prompt")
            if isinstance(messages, str):
                messages = [{"role": "user", "content": messages}]
            if not isinstance(messages, list) or not all(
                isinstance(m, Mapping)
                and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)
                for m in messages
            ):
                raise _Skip(SKIP_BAD_FIELD_TYPE, "prompt is not a list of {role, content} strings")
            if not any(m["role"] == "user" and m["content"].strip() for m in messages):
                raise _Skip(SKIP_MISSING_QUESTION, "no user message")
            return [{"role": m["role"], "content": m["content"]} for m in messages]
        question = self._get(record, "question")
        if question is None or (isinstance(question, str) and not question.strip()):
            raise _Skip(SKIP_MISSING_QUESTION, "empty question")
        if not isinstance(question, str):
            raise _Skip(SKIP_BAD_FIELD_TYPE, f"question is a {type(question).__name__}")
        return [{"role": "user", "content": question}]

    def _answer(self, record: Mapping[str, Any]) -> str:
        answer = self._get(record, "answer")
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float, type(None))):
            raise _Skip(SKIP_BAD_FIELD_TYPE, f"answer is a {type(answer).__name__}")
        if isinstance(answer, float) and not math.isfinite(answer):
            answer = None  # pandas/parquet write a missing number as NaN
        text = "" if answer is None else str(answer)
        if self.strip_boxed:
            text = strip_boxed(text)
        if not text.strip():
            raise _Skip(SKIP_MISSING_ANSWER, "empty answer")
        return text.strip()

    def _choices(self, record: Mapping[str, Any]) -> list[str]:
        choices = self._get(record, "choices")
        if choices is None:
            return []
        if not isinstance(choices, (list, tuple)) or not all(
            isinstance(c, (str, int, float)) for c in choices
        ):
            raise _Skip(SKIP_BAD_FIELD_TYPE, "choices is not a list of strings")
        return [str(c) for c in choices]

    def _image(self, value: Any) -> Image.Image:
        if isinstance(value, Image.Image):
            return to_rgb(value)
        if isinstance(value, Mapping) and value.get("bytes") is not None:
            return _decode(value["bytes"], "bytes")
        if isinstance(value, Mapping) and value.get("path"):
            return self._open(value["path"])
        if isinstance(value, (bytes, bytearray)):
            return _decode(bytes(value), "bytes")
        if isinstance(value, (str, Path)) and str(value):
            return self._open(value)
        raise _Skip(SKIP_BAD_FIELD_TYPE, f"image is a {type(value).__name__}")

    def _open(self, path: str | Path) -> Image.Image:
        full = Path(path).expanduser()
        if not full.is_absolute() and self.image_root is not None:
            full = self.image_root / full
        if not full.is_file():
            raise _Skip(SKIP_MISSING_IMAGE, str(full))
        return _decode(full.read_bytes(), str(full))


def _decode(data: bytes, where: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()  # decode now: a truncated file must fail here, not in a collate worker
        return to_rgb(image)
    except Exception as error:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        raise _Skip(SKIP_UNREADABLE_IMAGE, f"{where}: {type(error).__name__}") from None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, (bytes, bytearray)):  # numpy arrays from pandas
        return list(value.tolist())
    return [value]


def _is_blob(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray, Image.Image)):
        return True
    if isinstance(value, Mapping) and "bytes" in value:
        return True
    return isinstance(value, (list, tuple)) and any(_is_blob(v) for v in value)
