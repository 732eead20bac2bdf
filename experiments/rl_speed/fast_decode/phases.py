"""Per-step phase medians (wall s, steps 6..N) of RL runs: `python phases.py RUN_DIR...`
(each a `python -m vrl stages=[rl] logger=csv` run directory); prints a markdown table."""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

PHASES = ("rollout", "old_logprob", "reward", "update", "step")


def medians(run: Path) -> dict[str, float]:
    rows = list(csv.DictReader((run / "rl" / "csv" / "metrics.csv").open()))[5:]
    return {p: statistics.median(float(r[f"timing_s/{p}"]) for r in rows) for p in PHASES}


if __name__ == "__main__":
    print("| run | " + " | ".join(f"{p} ms" for p in PHASES) + " |")
    print("|---|" + "---:|" * len(PHASES))
    for run in map(Path, sys.argv[1:]):
        values = medians(run)
        print(f"| {run.name} | " + " | ".join(f"{1000 * values[p]:.0f}" for p in PHASES) + " |")
