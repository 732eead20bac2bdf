"""Summarise synchronous vs overlapped RL runs (issue 14 point 5): step times and reward curves.

    python experiments/rl_speed/overlap/summarize.py OUT_DIR RUN_DIR...

Each RUN_DIR is a `python -m vrl 'stages=[rl]' ... +trainer.callbacks=[{_target_: vrl.trainer.StepTimer}]`
run. Writes OUT_DIR/steps.md (a table per run: step wall, CPU of the trainer process, the
phases) and OUT_DIR/reward_per_step.csv (rollout/reward_mean per step, one column per run), and
prints the table.
"""

from __future__ import annotations

import csv
import hashlib
import json
import statistics
import sys
from pathlib import Path

SKIP = 2  # warm-up steps left out of the means (the first step has no overlap)
PHASES = (
    "timing_s/rollout",
    "timing_s/worker_rollout",
    "timing_s/worker_logprob",
    "timing_s/worker_cpu",
    "timing_s/prefetch",
    "timing_s/old_logprob",
    "timing_s/reward",
    "timing_s/update",
)


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "rl" / "csv" / "metrics.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("rollout/reward_mean")]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def summary(run: Path) -> dict[str, object]:
    times = json.loads((run / "rl" / "step_times.json").read_text())
    steps = rows(run)
    weights = run / "rl" / "model" / "model.safetensors"
    staleness = {float(r["rollout/staleness"]) for r in steps if r.get("rollout/staleness")}
    out: dict[str, object] = {
        "run": run.name,
        "max_staleness": int(max(staleness)) if staleness else 0,
        "steps": len(steps),
        "wall_ms": 1000 * mean(times["wall_s"][SKIP:]),
        "wall_median_ms": 1000 * statistics.median(times["wall_s"][SKIP:]),
        "trainer_cpu_ms": 1000 * mean(times["cpu_s"][SKIP:]),
        "reward_first20": f"{mean([float(r['rollout/reward_mean']) for r in steps[:20]]):.3f}",
        "reward_last20": f"{mean([float(r['rollout/reward_mean']) for r in steps[-20:]]):.3f}",
        "md5": hashlib.md5(weights.read_bytes()).hexdigest()[:8] if weights.exists() else "-",
    }
    for phase in PHASES:
        values = [float(r[phase]) for r in steps[SKIP:] if r.get(phase)]
        out[phase.split("/", 1)[1] + "_ms"] = 1000 * mean(values) if values else None
    return out


def table(summaries: list[dict[str, object]]) -> str:
    keys = list(summaries[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for s in summaries:
        cells = [f"{v:.1f}" if isinstance(v, float) else "-" if v is None else str(v) for v in s.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    out, runs = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    out.mkdir(parents=True, exist_ok=True)
    summaries = [summary(run) for run in runs]
    text = table(summaries)
    (out / "steps.md").write_text(text)
    curves = {run.name: [r["rollout/reward_mean"] for r in rows(run)] for run in runs}
    length = max(len(c) for c in curves.values())
    with open(out / "reward_per_step.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", *curves])
        for step in range(length):
            writer.writerow([step, *(c[step] if step < len(c) else "" for c in curves.values())])
    print(text)


if __name__ == "__main__":
    main()
