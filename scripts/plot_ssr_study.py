"""Plot and tabulate an RL ablation over seeds: SSR vs plain GRPO vs filter (experiments/ssr_vs_grpo,
experiments/ssr_regime), or forced rethinking vs none (experiments/forced_rethinking).

    python scripts/plot_ssr_study.py none=/r/none_s0,/r/none_s1 ssr=/r/ssr_s0,/r/ssr_s1 --out DIR

Each argument is `variant=<run dir>[,<run dir>...]`, one run (a seed) per directory, each with
`rl` and `eval` stages. Reads `<run>/rl/csv/metrics.csv`, `<run>/rl/DONE.json` (wall time) and
`<run>/eval/procedural_holdout/items.jsonl` (per-item hold-out results); writes `curves.png` and
`results.md` into `--out`. The first variant is the baseline of the paired test: every variant
against it on the same hold-out items, run for run in seed order (runs of one seed share the SFT
start and the items), pooled over seeds: items that went right -> wrong and wrong -> right and
a two-sided sign test on them.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WINDOW = 10  # steps averaged at the start and the end of RL

# (metric, panel title): curves over RL steps, mean over seeds with the min-max band
STEP_PANELS = [
    ("replay/effective_query_ratio", "groups with A != 0 (effective query ratio)"),
    ("replay/solve_all_query_ratio", "groups all correct (saturated)"),
    ("replay/solve_none_query_ratio", "groups all wrong"),
    ("rollout/reward_mean", "rollout reward mean"),
]


def read_rl(run: Path) -> list[dict[str, float]]:
    """One dict per RL step (rows of the CSV logger that carry `train/rl_step`)."""
    rows = []
    with open(run / "rl" / "csv" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row.get("train/rl_step"):
                rows.append({k: float(v) for k, v in row.items() if v not in ("", None)})
    return sorted(rows, key=lambda r: r["train/rl_step"])


def holdout_items(run: Path) -> dict[str, bool]:
    """Item id -> correct, on the run's procedural hold-out."""
    path = run / "eval" / "procedural_holdout" / "items.jsonl"
    with open(path) as f:
        return {item["id"]: bool(item["correct"]) for item in map(json.loads, f)}


def sign_test(up: int, down: int) -> float:
    """Two-sided exact sign test p-value for `up` vs `down` discordant pairs."""
    n = up + down
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(up, down) + 1)) / 2**n
    return min(1.0, 2 * tail)


def series(rows: list[dict[str, float]], key: str) -> list[float]:
    return [r.get(key, math.nan) for r in rows]


def smooth(values: list[float], window: int = WINDOW) -> list[float]:
    """Trailing moving average (shorter at the start)."""
    return [mean(values[max(0, i + 1 - window) : i + 1]) for i in range(len(values))]


def mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def spread(values: list[float]) -> str:
    """`mean ± sd (v1, v2, ...)` of per-seed values."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean(values):.1f} ± {sd:.1f} ({', '.join(f'{v:.1f}' for v in values)})"


def first_last(runs_rows: list[list[dict[str, float]]], key: str) -> str:
    """`first -> last`: the mean over runs of the first and the last WINDOW steps' mean of `key`
    ("—" where no run logged it)."""
    logged = [rows for rows in runs_rows if rows and key in rows[0]]
    if not logged:
        return "—"
    firsts = [mean(series(rows, key)[:WINDOW]) for rows in logged]
    lasts = [mean(series(rows, key)[-WINDOW:]) for rows in logged]
    return f"{mean(firsts):.3f} -> {mean(lasts):.3f}"


def write_results(out: Path, script: str, variants: dict[str, list[Path]], table: list[str]) -> None:
    """`out/results.md`: the run directories, the table and the figure `curves.png`; the table
    is printed too."""
    sources = "\n".join(
        f"- `{name}`: " + ", ".join(f"`{r}`" for r in runs) for name, runs in variants.items()
    )
    text = (
        "# Measured results\n\n"
        f"Written by `{script}` from these run directories (one per seed):\n\n{sources}\n\n"
        + "\n".join(table)
        + "\n\n![curves](curves.png)\n"
    )
    (out / "results.md").write_text(text)
    print("\n".join(table))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="variant=<run dir>[,<run dir>...] (one dir per seed)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--extra", default="", help="comma-separated extra metrics for the table (first -> last)"
    )
    args = parser.parse_args()
    variants = {
        name: [Path(p) for p in paths.split(",")] for name, paths in (a.split("=", 1) for a in args.runs)
    }
    extra = [k for k in args.extra.split(",") if k]
    args.out.mkdir(parents=True, exist_ok=True)

    fig, grid = plt.subplots(2, 3, figsize=(15, 8))
    axes = grid.ravel()
    header = (
        "| variant | seeds | hold-out accuracy (%), mean ± sd (per seed) | paired vs first: wrong->right / right->wrong, p "
        "| effective query ratio, first -> last 10 steps | all-correct groups | all-wrong groups | reward "
        + "".join(f"| {k} " for k in extra)
        + "| RL steps | RL wall s (mean) | s / step |"
    )
    table = [header, "|" + "---|" * (header.count("|") - 1)]
    baseline: list[dict[str, bool]] | None = None
    for name, runs in variants.items():
        runs_rows = [read_rl(run) for run in runs]
        items = [holdout_items(run) for run in runs]
        accuracy = [100 * sum(i.values()) / len(i) for i in items]
        seconds = [json.loads((run / "rl" / "DONE.json").read_text())["seconds"] for run in runs]
        steps = min(len(rows) for rows in runs_rows)
        color = None
        for axis, (key, _) in zip(axes, STEP_PANELS):
            curves = [smooth(series(rows, key)[:steps]) for rows in runs_rows]
            x = list(range(1, steps + 1))
            by_step = list(zip(*curves))
            (line,) = axis.plot(x, [mean(list(v)) for v in by_step], label=name, color=color)
            color = line.get_color()
            axis.fill_between(
                x, [min(v) for v in by_step], [max(v) for v in by_step], color=color, alpha=0.15
            )
        for rows in runs_rows:  # reward against wall time: equal-time comparison
            wall = list(_cumulative(series(rows, "timing_s/step")))
            axes[4].plot(wall, smooth(series(rows, "rollout/reward_mean")), color=color, alpha=0.7)
        axes[4].plot([], [], color=color, label=name)
        axes[5].scatter([name] * len(accuracy), accuracy, color=color)
        axes[5].scatter([name], [mean(accuracy)], color=color, marker="_", s=600)

        if baseline is None:
            baseline, paired = items, "—"
        else:
            up = sum(not b[k] and v[k] for b, v in zip(baseline, items) for k in b)
            down = sum(b[k] and not v[k] for b, v in zip(baseline, items) for k in b)
            paired = f"{up} / {down}, p = {sign_test(up, down):.3g}"
        table.append(
            f"| {name} | {len(runs)} | {spread(accuracy)} | {paired} "
            f"| {first_last(runs_rows, 'replay/effective_query_ratio')} "
            f"| {first_last(runs_rows, 'replay/solve_all_query_ratio')} "
            f"| {first_last(runs_rows, 'replay/solve_none_query_ratio')} "
            f"| {first_last(runs_rows, 'rollout/reward_mean')} "
            + "".join(f"| {first_last(runs_rows, k)} " for k in extra)
            + f"| {steps} | {mean(seconds):.0f} | {mean(seconds) / steps:.2f} |"
        )

    for axis, (_, title) in zip(axes, STEP_PANELS):
        axis.set(title=f"{title} ({WINDOW}-step mean)", xlabel="RL step", ylim=(0, 1.02))
    axes[4].set(title=f"rollout reward ({WINDOW}-step mean) vs RL wall time", xlabel="s", ylim=(0, 1.02))
    axes[5].set(title="hold-out accuracy (%) per seed; bar = mean")
    for axis in axes:
        axis.grid(alpha=0.3)
    for axis in axes[:5]:
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "curves.png", dpi=100)

    write_results(args.out, "scripts/plot_ssr_study.py", variants, table)


def _cumulative(values: list[float]):
    total = 0.0
    for v in values:
        total += 0.0 if math.isnan(v) else v
        yield total


if __name__ == "__main__":
    main()
