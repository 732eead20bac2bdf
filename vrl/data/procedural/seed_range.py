"""The seed-range guard every procedural source shares: training below the hold-out range, evaluation in it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from vrl.errors import ConfigError

from .registry import HOLDOUT_SEED_START


def check_seed_range(seed_start: int, num_samples: int | None, holdout: bool) -> None:
    """ConfigError (naming the keys and the fix) unless the seeds stay on their side of HOLDOUT_SEED_START."""
    if num_samples is not None and num_samples < 0:
        raise ConfigError(f"num_samples: {num_samples} is negative; use a count >= 0 or null for unlimited")
    if seed_start < 0:
        raise ConfigError(f"seed_start: {seed_start} is negative; seeds start at 0")
    if holdout and seed_start < HOLDOUT_SEED_START:
        raise ConfigError(
            f"seed_start: {seed_start} is below the hold-out range of a holdout source; "
            f"use seed_start >= {HOLDOUT_SEED_START}"
        )
    if not holdout:
        end = (seed_start + num_samples) if num_samples is not None else seed_start
        if end > HOLDOUT_SEED_START or seed_start >= HOLDOUT_SEED_START:
            raise ConfigError(
                f"seed_start/num_samples: training seeds [{seed_start}, {end}) reach the hold-out range "
                f"(>= {HOLDOUT_SEED_START}); lower them, or set holdout: true for an evaluation source"
            )


def seed_range(seed_start: int, num_samples: int | None, holdout: bool) -> Iterable[int]:
    """The seeds a checked source reads: a `range`, or endless for an unlimited hold-out source."""
    if num_samples is not None:
        return range(seed_start, seed_start + num_samples)
    if holdout:
        return itertools.count(seed_start)
    return range(seed_start, HOLDOUT_SEED_START)
