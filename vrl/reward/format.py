"""Format rewards: 1.0 when the response has the required shape, else 0.0.

Two shapes, one function each (pick one per `conf/reward/` option):
- `think_answer_format`: exactly `<think>...</think>` then `<answer>...</answer>`, each tag
  exactly once, nothing else around them but whitespace (V-Thinker, DeepEyes, R1-style prompts).
- `boxed_format`: a non-empty `\\boxed{...}` answer somewhere (VL-Rethinker-style prompts).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from vrl.answer.extraction import extract_boxed

_THINK_ANSWER = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def has_think_answer_format(text: str) -> bool:
    """`<think>..</think>` + `<answer>..</answer>`, each tag once, in that order, answer non-empty."""
    if any(text.count(tag) != 1 for tag in _TAGS):
        return False
    match = _THINK_ANSWER.fullmatch(text)
    return match is not None and match.group(2).strip() != ""


def think_answer_format(completions: Sequence[str], **_: Any) -> list[float | None]:
    """Reward contract: 1.0 per response with the think/answer shape, else 0.0."""
    return [1.0 if has_think_answer_format(text) else 0.0 for text in completions]


def boxed_format(completions: Sequence[str], **_: Any) -> list[float | None]:
    """Reward contract: 1.0 per response with a non-empty `\\boxed{}` answer, else 0.0."""
    return [1.0 if extract_boxed(text) else 0.0 for text in completions]
