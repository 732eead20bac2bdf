"""A sweep's curves overlaid: one PNG per (stage, metric), one line per job labelled by its
swept values; and the jobs' final eval accuracies side by side."""

from __future__ import annotations

import re
from pathlib import Path

from vrl.report.run_plots import pyplot, save_figure
from vrl.report.sweep import Sweep

# Logged metrics worth overlaying, with their titles; a stage gets those its jobs logged.
CURVES = (
    ("rollout/reward_mean", "reward (mean over rollouts)"),
    ("reward/accuracy/mean", "accuracy reward"),
    ("replay/effective_ratio", "effective ratio (share with advantage != 0; 1 - zero-advantage ratio)"),
    ("train/loss", "loss"),
    ("val/loss", "validation loss"),
)
X_LABEL = {"train/rl_step": "RL step", "step": "optimizer step"}


def overlaid_curves(sweep: Sweep) -> list[tuple[str, str, str]]:
    """(stage, metric, title) of each curve worth overlaying: the metrics of `CURVES` that some
    job logged in that stage, stages in run order (also the W&B Report's line plots)."""
    return [
        (stage, metric, title)
        for stage in sweep.stages
        for metric, title in CURVES
        if any(job.curves.get(stage, {}).get(metric) for job in sweep.jobs)
    ]


def plot_curves(sweep: Sweep, labels: dict[str, str], out_dir: Path) -> list[Path]:
    """One PNG per stage and metric of `CURVES` that some job logged; `labels`: job name -> legend."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    written = []
    for stage, metric, title in overlaid_curves(sweep):
        lines = [
            (job, job.curves[stage][metric]) for job in sweep.jobs if job.curves.get(stage, {}).get(metric)
        ]
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for job, points in lines:
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o" if len(points) < 30 else None, label=labels[job.name])
        ax.set_title(f"{stage}: {title}", fontsize=10)
        ax.set_xlabel(X_LABEL.get(lines[0][0].curve_x.get(stage, "step"), "step"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        written.append(save_figure(fig, out_dir / f"{stage}_{_slug(metric)}.png"))
    return written


def plot_finals(names: list[str], sweep: Sweep, labels: dict[str, str], out_dir: Path) -> Path | None:
    """Bars of each job's final value of each metric in `names` (e.g. eval accuracies)."""
    names = [n for n in names if any(n in job.metrics for job in sweep.jobs)]
    if not names:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.4, 1.6 * len(names) * len(sweep.jobs) ** 0.5), 3.6))
    width = 0.8 / len(sweep.jobs)
    for j, job in enumerate(sweep.jobs):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(names))]
        ax.bar(xs, [job.metrics.get(n, 0.0) for n in names], width=width, label=labels[job.name])
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_title("final values (eval accuracy in %)", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir / "finals.png")


def _slug(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", metric).strip("_")
