"""The run's human-facing results: `summary.md`, a terminal table, and plots of the curves."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

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
    plots = plot_training_curves(run_dir) + sorted((run_dir / "plots").glob("eval_*.png"))
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


def plot_training_curves(run_dir: Path) -> list[Path]:
    """One PNG per training stage with its logged loss/accuracy curves (from the CSV logger)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = run_dir / "plots"
    written = []
    for metrics_csv in sorted(run_dir.glob("*/csv/**/metrics.csv")):
        stage = metrics_csv.relative_to(run_dir).parts[0]
        series = _read_series(metrics_csv)
        keys = [
            k
            for k in series
            if k.startswith(("train/", "val/"))
            and any(w in k for w in ("loss", "accuracy", "reward"))
            and len(series[k]) > 1
        ]
        if not keys:
            continue
        fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
        for ax, key in zip(axes[0], keys):
            steps, values = zip(*series[key])
            ax.plot(steps, values, marker="." if len(steps) < 30 else None)
            ax.set_title(key)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        fig.suptitle(f"{stage}")
        fig.tight_layout()
        out_dir.mkdir(exist_ok=True)
        path = out_dir / f"{stage}_curves.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _read_series(path: Path) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            step = row.get("step")
            for key, value in row.items():
                if key == "step" or value in ("", None) or step in ("", None):
                    continue
                series.setdefault(key, []).append((float(step), float(value)))
    return series


def _print_table(run_name: str, records: list[StageRecord]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vrl run: {run_name}")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("wall s", justify="right")
    table.add_column("headline metrics")
    for r in records:
        headline = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r.metrics.items())[:6])
        table.add_row(r.name, r.status, f"{r.seconds:.1f}", headline)
    Console().print(table)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_benchmark(run_dir: Path, benchmark: str, metrics: dict[str, float]) -> Path | None:
    """Bar chart of a benchmark's `accuracy/<group>` breakdown, with `chance/<group>` beside it if known."""
    groups = sorted(k.split("/", 1)[1] for k in metrics if k.startswith("accuracy/") and k.count("/") == 1)
    if not groups:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(groups) + 2, 3.2))
    xs = range(len(groups))
    ax.bar([x - 0.2 for x in xs], [metrics[f"accuracy/{g}"] for g in groups], width=0.4, label="this run")
    if all(f"chance/{g}" in metrics for g in groups):
        ax.bar(
            [x + 0.2 for x in xs],
            [metrics[f"chance/{g}"] for g in groups],
            width=0.4,
            label="chance",
            color="0.7",
        )
    ax.set_xticks(list(xs), groups)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{benchmark}: {metrics.get('accuracy', 0):.1f}% overall")
    ax.legend()
    fig.tight_layout()
    out = run_dir / "plots" / f"eval_{benchmark}.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
