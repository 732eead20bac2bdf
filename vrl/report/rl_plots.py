"""One RL run at a glance: `plots/rl_dashboard.png`, every panel against the RL step.

Panels (each drawn when its metric was logged; its key in brackets): reward and accuracy reward
(the per-step mean, and an exponential moving average over `SMOOTHING` steps), response length,
policy entropy, effective ratio (share of responses with a non-zero advantage: 1 - the
zero-advantage share), KL (to the reference when the algorithm has one, else the update's
approximate KL to the sampling policy), clip fraction, and the step's wall time by phase
(rollout, reward, old log-probs, update, weight sync, ...) as a stacked area.
"""

from __future__ import annotations

from pathlib import Path

from vrl.report.run_plots import pyplot, save_figure
from vrl.report.series import metrics_csv, read_series

RL_STEP = "train/rl_step"  # the x of every panel (Lightning's own step counts optimizer steps)
SMOOTHING = 10  # steps in the moving average's span (alpha = 2 / (span + 1))
PANELS: list[tuple[str, list[str], bool]] = [  # title, metric keys (first found is drawn), smoothed
    ("reward (mean over responses)", ["rollout/reward_mean", "reward/total/mean"], True),
    ("accuracy reward", ["reward/accuracy/mean"], True),
    ("response length (tokens)", ["rollout/response_length_mean"], False),
    ("policy entropy", ["train/entropy"], False),
    ("effective ratio (advantage != 0)", ["replay/effective_ratio"], False),
    ("KL", ["train/kl", "train/approx_kl"], False),
    ("clip fraction", ["train/clip_frac"], False),
]


def moving_average(values: list[float], span: int = SMOOTHING) -> list[float]:
    """Exponential moving average with alpha = 2 / (span + 1), started at the first value."""
    alpha, out = 2.0 / (span + 1), []
    for value in values:
        out.append(value if not out else alpha * value + (1 - alpha) * out[-1])
    return out


def plot_rl_dashboard(run_dir: Path, stage: str = "rl") -> Path | None:
    """Write `<run_dir>/plots/<stage>_dashboard.png` from the stage's CSV log, every metric
    against `train/rl_step` (`vrl.report.series`); None when the stage logged no RL step."""
    found = metrics_csv(run_dir / stage)
    series = read_series(found, x=RL_STEP) if found else {}
    panels = []
    for title, keys, smoothed in PANELS:
        key = next((k for k in keys if series.get(k)), None)
        if key:
            panels.append((title, key, smoothed))
    timings = sorted(k for k in series if k.startswith("timing_s/") and k != "timing_s/step")
    if not panels and not timings:
        return None
    plt = pyplot()

    count = len(panels) + bool(timings)
    columns = min(4, count)
    fig, axes = plt.subplots(
        -(-count // columns), columns, figsize=(4 * columns, 3 * -(-count // columns)), squeeze=False
    )
    flat = list(axes.flat)
    for ax, (title, key, smoothed) in zip(flat, panels):
        xs, ys = zip(*series[key])
        ax.plot(
            xs, ys, marker="." if len(xs) < 30 else None, alpha=0.5 if smoothed else 1.0, label="per step"
        )
        if smoothed and len(ys) > 1:
            ax.plot(xs, moving_average(list(ys)), label=f"EMA ({SMOOTHING} steps)")
            ax.legend(fontsize=7)
        ax.set_title(f"{title}  [{key}]", fontsize=8)
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    if timings:
        ax = flat[len(panels)]
        steps = sorted({x for k in timings for x, _ in series[k]})
        by_step = {k: dict(series[k]) for k in timings}
        ax.stackplot(
            steps,
            [[by_step[k].get(x, 0.0) for x in steps] for k in timings],
            labels=[k.split("/", 1)[1] for k in timings],
        )
        ax.set_title("step time by phase (s)", fontsize=9)
        ax.set_xlabel("RL step")
        ax.legend(fontsize=6, loc="upper left")
    for ax in flat[count:]:
        ax.axis("off")
    steps_logged = len({x for values in series.values() for x, _ in values})
    fig.suptitle(f"{stage}: {steps_logged} steps", fontsize=10)
    return save_figure(fig, run_dir / "plots" / f"{stage}_dashboard.png")
