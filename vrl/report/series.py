"""A stage's logged metrics (the CSV logger's `<stage>/csv/**/metrics.csv`) as curves.

Lightning's CSV logger writes one wide table: a row per `log` call, empty cells where a row
does not hold a metric. A curve is the rows where both its step column and its value are set.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

Series = dict[str, list[tuple[float, float]]]  # metric -> [(step, value), ...] in logged order


def metrics_csv(stage_dir: Path) -> Path | None:
    """The stage's CSV log, or None if it logged nothing (the CSV logger nests it in a version dir)."""
    found = sorted(stage_dir.glob("csv/**/metrics.csv"))
    return found[0] if found else None


def read_series(path: Path, x: str = "step") -> Series:
    """Every metric of `path` against column `x` (rows lacking either are left out)."""
    series: Series = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            step = _number(row.get(x))
            if step is None:
                continue
            for key, text in row.items():
                value = _number(text)
                if key != x and key is not None and value is not None:
                    series.setdefault(key, []).append((step, value))
    return series


def last_values(path: Path) -> dict[str, float]:
    """Each metric's last logged value."""
    last: dict[str, float] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for key, text in row.items():
                value = _number(text)
                if key is not None and value is not None:
                    last[key] = value
    return last


def _number(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
