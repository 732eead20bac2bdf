"""Where forced rethinking cuts a response: just before its final answer.

A marker is `"last:<text>"` or `"first:<text>"` (case-sensitive). The first marker found in
the response gives the cut position (VL-Rethinker: the last "Wait", else the last "\\boxed",
else the first "answer"); the cut then moves back to the last blank line before it, so a
paragraph is never split. With no marker, the cut is the response's last blank line. None
means there is nowhere sensible to cut (the caller keeps the response whole).
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_CUT_MARKERS: tuple[str, ...] = ("last:Wait", "last:\\boxed", "first:answer")


def _find(text: str, marker: str) -> int:
    which, sep, needle = marker.partition(":")
    if not sep or which not in ("first", "last") or not needle:
        raise ValueError(f"cut marker {marker!r} must read 'first:<text>' or 'last:<text>'")
    return text.find(needle) if which == "first" else text.rfind(needle)


def cut_before_answer(text: str, markers: Sequence[str] = DEFAULT_CUT_MARKERS) -> str | None:
    """The response up to its final answer, trailing whitespace removed; None if nothing is left."""
    position = len(text)
    for marker in markers:
        found = _find(text, marker)
        if found > 0:
            position = found
            break
    blank = text.rfind("\n\n", 0, position)
    if blank > 0:
        position = blank
    elif position == len(text):
        return None  # no marker and no blank line
    prefix = text[:position].rstrip()
    return prefix or None
