"""Reading a model's reply as a flywheel item: tolerant of fences, prose, and partial fields."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.S)


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text`: a ```json fence, else the first balanced {...}; None if none parses."""
    for block in _FENCE.findall(text or ""):
        value = _loads(block)
        if value is not None:
            return value
    for start in (i for i, ch in enumerate(text or "") if ch == "{"):
        end = _balanced_end(text, start)
        if end is not None:
            value = _loads(text[start : end + 1])
            if value is not None:
                return value
    return None


def _loads(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text.strip())
    except (json.JSONDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _balanced_end(text: str, start: int) -> int | None:
    """Index of the brace closing text[start], skipping braces inside JSON strings."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            escaped = ch == "\\" and not escaped
            if ch == '"' and not escaped:
                in_string = False
            elif ch != "\\":
                escaped = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def strip_code_fence(code: str) -> str:
    """Code given as a fenced block becomes bare code; bare code is unchanged."""
    match = re.search(r"```(?:python|py)?\s*\n(.*?)```", code, re.S)
    return match.group(1) if match else code
