"""The RL run's dashboard: its panels come from the run's own metrics.csv; the smoothing is an EMA."""

from __future__ import annotations

import csv

import pytest

from vrl.report.rl_plots import PANELS, moving_average, plot_rl_dashboard


def test_moving_average_by_hand():
    # alpha = 2 / (3 + 1) = 0.5: 1, 0.5*3 + 0.5*1 = 2, 0.5*2 + 0.5*2 = 2, 0.5*6 + 0.5*2 = 4
    assert moving_average([1.0, 3.0, 2.0, 6.0], span=3) == pytest.approx([1.0, 2.0, 2.0, 4.0])


def _write_log(stage_dir, steps: int) -> None:
    path = stage_dir / "csv" / "metrics.csv"
    path.parent.mkdir(parents=True)
    keys = [
        "step",
        "train/rl_step",
        "rollout/reward_mean",
        "train/entropy",
        "timing_s/rollout",
        "timing_s/update",
    ]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*keys, "val/loss"])
        writer.writeheader()
        writer.writerow({"step": 0, "val/loss": 1.0})  # a row without an RL step is not one
        for k in range(1, steps + 1):
            writer.writerow({"step": k, "train/rl_step": k, "rollout/reward_mean": k / steps, "train/entropy": 0.5,
                             "timing_s/rollout": 1.0, "timing_s/update": 2.0})  # fmt: skip


def test_dashboard_draws_the_logged_metrics_against_the_rl_step(tmp_path):
    _write_log(tmp_path / "rl", steps=12)
    path = plot_rl_dashboard(tmp_path)
    assert path == tmp_path / "plots" / "rl_dashboard.png" and path.stat().st_size > 10_000
    from PIL import Image

    assert Image.open(path).size[0] >= 800, "three panels side by side"
    assert all(title for title, _, _ in PANELS)


def test_no_dashboard_without_rl_steps(tmp_path):
    assert plot_rl_dashboard(tmp_path) is None
    _write_log(tmp_path / "rl", steps=0)
    assert plot_rl_dashboard(tmp_path) is None
