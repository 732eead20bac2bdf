"""Where a generated response ends: EOS ids, stop strings, and the placeholder tokens it must never hold."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any


def eos_token_ids(model: Any, processor: Any) -> set[int]:
    """The token ids that end generation (the generation config's, else the tokenizer's EOS)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is None:
        configured = processor.tokenizer.eos_token_id
    return set(configured) if isinstance(configured, (list, tuple)) else {int(configured)}


# Rows a tokenizer decoded before, per tokenizer object: a step's responses repeat the same few
# answers (a group's, and step after step), and the backend's decode is ~6 us a row on the
# embedded default against ~0.3 us for a lookup. Bounded: forgotten at once past `_MEMO_ROWS`.
_DECODED: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], str]] = weakref.WeakKeyDictionary()
_MEMO_ROWS = 65_536


def decode_texts(tokenizer: Any, rows: Sequence[Sequence[int]]) -> list[str]:
    """`tokenizer.decode(row, skip_special_tokens=True)` for each row. A fast tokenizer that
    cleans up no spaces (Qwen's) decodes them all in one call of its Rust backend, which is what
    its `decode` runs row by row: ~3x less time for the default's 128 short responses a step.
    A row this tokenizer object decoded before is not decoded again (its ids' text does not
    change while the object lives)."""
    try:
        memo = _DECODED.setdefault(tokenizer, {})
    except TypeError:  # not weakly referenceable: decode every row
        return _decode_rows(tokenizer, rows)
    keys = [tuple(row) for row in rows]
    missing = list(dict.fromkeys(key for key in keys if key not in memo))
    if missing:
        if len(memo) + len(missing) > _MEMO_ROWS:
            memo.clear()
        memo.update(zip(missing, _decode_rows(tokenizer, missing)))
    return [memo[key] for key in keys]


def _decode_rows(tokenizer: Any, rows: Sequence[Sequence[int]]) -> list[str]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and getattr(tokenizer, "clean_up_tokenization_spaces", True) is False:
        return backend.decode_batch([list(row) for row in rows], skip_special_tokens=True)
    return [tokenizer.decode(row, skip_special_tokens=True) for row in rows]


def cut_at_stop(token_ids: list[int], decode: Any, stops: Sequence[str]) -> tuple[list[int], str | None]:
    """`(ids up to the token that completes the earliest stop string, that stop)`, or
    `(token_ids, None)` when the decoded text holds none. Tokens after it (the padding a batched
    `generate` writes once a row stopped) are dropped."""
    text = decode(token_ids)
    found = [(text.find(stop), stop) for stop in stops if stop and stop in text]
    if not found:
        return list(token_ids), None
    _, stop = min(found)
    end = len(token_ids)
    while end > 0 and stop in decode(token_ids[: end - 1]):
        end -= 1
    return list(token_ids[:end]), stop


def trim_response(
    token_ids: list[int], eos_ids: set[int], decode: Any, stops: Sequence[str]
) -> tuple[list[int], bool]:
    """A generated row cut where generation ended: after the first stop string (a row that
    stopped there is padded by `generate`, and the pad id may be an EOS id) or the first EOS.
    Returns `(ids, finished)`; finished = ended by EOS or a stop string, not by the length cap."""
    if stops:
        cut, stop = cut_at_stop(token_ids, decode, stops)
        if stop is not None and not set(cut[:-1]) & eos_ids:
            return cut, True
    return trim_at_eos(token_ids, eos_ids)


def trim_at_eos(token_ids: list[int], eos_ids: set[int]) -> tuple[list[int], bool]:
    """Generated ids up to and including the first EOS (padding after it dropped), and whether
    there was one: `[5, 7, EOS, PAD, PAD]` -> `([5, 7, EOS], True)`."""
    for position, token in enumerate(token_ids):
        if token in eos_ids:
            return token_ids[: position + 1], True
    return list(token_ids), False


def vision_token_ids(model: Any) -> list[int]:
    """Placeholder tokens the processor inserts around images (`<|image_pad|>`, ...), which a
    response must never contain: the forward pass matches them to image features."""
    names = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    config = getattr(model, "config", None)
    return sorted({int(v) for name in names if (v := getattr(config, name, None)) is not None})


def cut_before_vision(token_ids: Sequence[int], vision_ids: set[int]) -> tuple[list[int], bool]:
    """`(ids before the first image placeholder token, whether there was one)`. An engine that
    does not forbid them cuts the response there instead: a placeholder inside a response
    breaks the next forward, which matches every placeholder to image features."""
    for position, token in enumerate(token_ids):
        if token in vision_ids:
            return list(token_ids[:position]), True
    return list(token_ids), False
