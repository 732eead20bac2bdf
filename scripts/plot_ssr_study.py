"""Plot and tabulate the SSR ablation (experiments/ssr_vs_grpo).

    python scripts/plot_ssr_study.py none=/tmp/ssr_none ssr=/tmp/ssr_ssr filter=/tmp/ssr_filter

Each argument is `variant=<run dir>` (a run with `rl` and `eval` stages). Reads
`<run>/rl/csv/metrics.csv`, `<run>/rl/DONE.json` (wall time) and `<run>/eval/summary.csv`;
writes `effective_ratio.png` and `results.md` into `--out` (default experiments/ssr_vs_grpo).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WINDOW = 10  # steps averaged at the start and the end of RL


def read_rl(run: Path) -> list[dict[str, float]]:
    """One dict per RL step (rows of the CSV logger that carry `train/rl_step`)."""
    rows = []
    with open(run / "rl" / "csv" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row.get("train/rl_step"):
                rows.append({k: float(v) for k, v in row.items() if v not in ("", None)})
    return sorted(rows, key=lambda r: r["train/rl_step"])


def trained_effective(row: dict[str, float]) -> float:
    """Samples with A != 0 in the batch the step trained on (replayed ones included)."""
    if "replay/positives" in row:  # SSR: everything it outputs is effective except positives
        return row["replay/output_size"] - row["replay/positives"]
    if "replay/dropped_groups" in row:  # filter: every kept group has differing rewards
        return row["replay/output_size"]
    return row["replay/effective_ratio"] * row["rollout/responses"]  # none


def holdout_accuracy(run: Path) -> float:
    with open(run / "eval" / "summary.csv") as f:
        for row in csv.DictReader(f):
            if row["benchmark"] == "procedural_holdout" and row["metric"] == "accuracy":
                return float(row["this run"])
    raise KeyError(f"{run}/eval/summary.csv has no procedural_holdout accuracy")


def smooth(values: list[float], window: int = WINDOW) -> list[float]:
    """Trailing moving average (shorter at the start)."""
    return [mean(values[max(0, i + 1 - window) : i + 1]) for i in range(len(values))]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="variant=<run dir>")
    parser.add_argument("--out", type=Path, default=Path("experiments/ssr_vs_grpo"))
    args = parser.parse_args()
    runs = {name: Path(path) for name, path in (item.split("=", 1) for item in args.runs)}
    args.out.mkdir(parents=True, exist_ok=True)

    fig, grid = plt.subplots(2, 2, figsize=(11, 7.5))
    axes = grid.ravel()
    table = [
        "| variant | hold-out accuracy (%) | effective sample ratio, first / last 10 steps "
        "| effective query ratio, first / last 10 steps | reward mean, first / last 10 steps "
        "| entropy of trained batch, first / last 10 steps | A != 0 samples trained on per step (mean) | RL steps | RL wall time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        rows = read_rl(run)
        steps = [r["train/rl_step"] for r in rows]
        sample = [r["replay/effective_ratio"] for r in rows]
        query = [r["replay/effective_query_ratio"] for r in rows]
        reward = [r["rollout/reward_mean"] for r in rows]
        trained = [trained_effective(r) for r in rows]
        entropy = [r["train/entropy"] for r in rows if "train/entropy" in r]
        (line,) = axes[0].plot(steps, smooth(sample), label=f"{name} (samples)")
        color = line.get_color()
        axes[0].plot(steps, sample, color=color, alpha=0.2, lw=0.8)
        axes[0].plot(steps, smooth(query), ls="--", color=color, label=f"{name} (queries)")
        axes[1].plot(steps, reward, color=color, alpha=0.2, lw=0.8)
        axes[1].plot(steps, smooth(reward), color=color, label=name)
        axes[2].plot(steps, smooth(trained), color=color, label=name)
        entropy_steps = [r["train/rl_step"] for r in rows if "train/entropy" in r]
        axes[3].plot(entropy_steps, smooth(entropy), color=color, label=name)
        seconds = json.loads((run / "rl" / "DONE.json").read_text())["seconds"]

        def first_last(values: list[float]) -> str:
            return f"{mean(values[:WINDOW]):.3f} / {mean(values[-WINDOW:]):.3f}"

        table.append(
            f"| {name} | {holdout_accuracy(run):.1f} | {first_last(sample)} | {first_last(query)} "
            f"| {first_last(reward)} | {first_last(entropy)} | {mean(trained):.1f} | {len(rows)} | {seconds:.0f} |"
        )

    axes[0].set(
        title=f"rollout batch: share with A != 0 ({WINDOW}-step mean; faint: raw)",
        xlabel="RL step",
        ylabel="share",
        ylim=(0, 1.05),
    )
    axes[1].set(title="rollout reward (accuracy) mean", xlabel="RL step", ylim=(0, 1.05))
    axes[2].set(
        title=f"A != 0 samples in the trained batch ({WINDOW}-step mean)", xlabel="RL step", ylabel="samples"
    )
    axes[3].set(title=f"entropy on the trained batch, nats/token ({WINDOW}-step mean)", xlabel="RL step")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "effective_ratio.png", dpi=110)

    sources = "\n".join(f"- `{name}`: `{run}`" for name, run in runs.items())
    text = (
        "# SSR ablation: measured results\n\n"
        f"Written by `scripts/plot_ssr_study.py` from these run directories:\n\n{sources}\n\n"
        + "\n".join(table)
        + "\n\n![effective ratio](effective_ratio.png)\n"
    )
    (args.out / "results.md").write_text(text)
    print("\n".join(table))


if __name__ == "__main__":
    main()
