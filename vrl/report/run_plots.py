"""One run's plots: each training stage's logged curves, and a benchmark's accuracy per group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vrl.report.series import read_series


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only: no display on a cluster node)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Lay out `fig`, write it to `path` (its folder made), close it; `path`."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_training_curves(run_dir: Path) -> list[Path]:
    """One PNG per training stage with its logged loss/accuracy curves (from the CSV logger)."""
    plt = pyplot()
    out_dir = run_dir / "plots"
    written = []
    for metrics_csv in sorted(run_dir.glob("*/csv/**/metrics.csv")):
        stage = metrics_csv.relative_to(run_dir).parts[0]
        series = read_series(metrics_csv)
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
        written.append(save_figure(fig, out_dir / f"{stage}_curves.png"))
    return written


def plot_benchmark(run_dir: Path, benchmark: str, metrics: dict[str, float]) -> Path | None:
    """Bar chart of a benchmark's `accuracy/<group>` breakdown, with `chance/<group>` beside it if known."""
    groups = sorted(k.split("/", 1)[1] for k in metrics if k.startswith("accuracy/") and k.count("/") == 1)
    if not groups:
        return None
    plt = pyplot()
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
    return save_figure(fig, run_dir / "plots" / f"eval_{benchmark}.png")
