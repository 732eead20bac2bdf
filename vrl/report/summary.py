"""One run's `summary.md` (stages, wall times, metrics, tables, plots) and the same table in the terminal."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from vrl.report.rl_plots import plot_rl_dashboard
from vrl.report.run_plots import plot_training_curves

log = logging.getLogger("vrl")


@dataclass
class StageRecord:
    name: str
    status: str
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)


def write_summary(
    run_dir: Path,
    run_name: str,
    records: list[StageRecord],
    command: str,
    appendix: dict[str, str] | None = None,
) -> Path:
    """Write `summary.md` (stages, wall times, metrics, stage tables, then `appendix`'s titled
    markdown sections) and print the same table."""
    dashboard = plot_rl_dashboard(run_dir)
    plots = plot_training_curves(run_dir) + ([dashboard] if dashboard else [])
    plots += sorted((run_dir / "plots").glob("eval_*.png"))
    total = sum(r.seconds for r in records if r.status == "ran")
    lines = [
        f"# {run_name}",
        "",
        f"`{command}`",
        "",
        f"Run directory: `{run_dir}`",
        "",
        "| stage | status | wall time (s) |",
        "|---|---|---:|",
    ]
    lines += [f"| {r.name} | {r.status} | {r.seconds:.1f} |" for r in records]
    lines += [
        f"| **total (this invocation)** | | **{total:.1f}** |",
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    for r in records:
        lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(r.metrics.items())]
    for r in records:
        for title, table in r.tables.items():
            lines += ["", f"## {title}", "", table]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots]
    for title, section in (appendix or {}).items():
        lines += ["", f"## {title}", "", section]
    path = run_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    _print_table(run_name, records)
    log.info("summary written to %s", path)
    return path


def _print_table(run_name: str, records: list[StageRecord]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vrl run: {run_name}")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("wall s", justify="right")
    table.add_column("headline metrics")
    for r in records:
        headline = ", ".join(f"{k}={_fmt(r.metrics[k])}" for k in headline_keys(r.metrics))
        table.add_row(r.name, r.status, f"{r.seconds:.1f}", headline)
    Console().print(table)


# What a person looks at first in a stage's results, in this order (fnmatch patterns; `*`
# crosses `/`, so `eval/*/accuracy` is each benchmark's overall accuracy, not its groups').
RUN_HEADLINE = (
    "eval/*/accuracy",
    "rollout/reward_mean",
    "reward/accuracy/mean",
    "replay/effective_ratio",
    "train/loss",
    "val/loss",
    "*/steps",
    "data/written",
    "data/skipped",
)


def headline_keys(metrics: dict[str, float], n: int = 6) -> list[str]:
    """At most `n` of a stage's metrics for the terminal table: `RUN_HEADLINE`'s, in its order;
    a stage that logs none of them shows its first `n` alphabetically."""
    from fnmatch import fnmatch

    picked = [k for pattern in RUN_HEADLINE for k in sorted(metrics) if fnmatch(k, pattern)]
    picked = list(dict.fromkeys(picked))
    return picked[:n] if picked else sorted(metrics)[:n]


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
