"""Rethinking cues: the phrases that mark a response re-examining itself (VL-Rethinker).

Counted as lower-cased substrings, so "Wait, let me check" and "WAIT A moment" both count.
Shared by the `vlrethinker` reward, forced rethinking and the auxiliary NLL selection.
"""

from __future__ import annotations

from collections.abc import Sequence

RETHINK_CUES: tuple[str, ...] = ("wait,", "wait a", "alternatively")


def count_cues(text: str, cues: Sequence[str] = RETHINK_CUES) -> int:
    """Total non-overlapping occurrences of every cue in the lower-cased text."""
    lowered = text.lower()
    return sum(lowered.count(cue.lower()) for cue in cues)
