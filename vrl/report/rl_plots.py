"""One RL run at a glance: `plots/rl_dashboard.png`, every panel against the RL step.

Panels (each drawn when its metric was logged; its key in brackets): reward and accuracy reward
(the per-step mean, and an exponential moving average over `SMOOTHING` steps), response length,
policy entropy, effective ratio (share of responses with a non-zero advantage: 1 - the
zero-advantage share), KL (to the reference when the algorithm has one, else the update's
approximate KL to the sampling policy), clip fraction, and the step's wall time by phase
(rollout, reward, old log-probs, update, weight sync, ...) as a stacked area.
"""

from __future__ import annotations

import csv
from pathlib import Path

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


def rl_rows(metrics_csv: Path) -> list[dict[str, float]]:
    """The RL stage's per-step rows (those carrying `train/rl_step`), numbers only, by step."""
    rows = []
    with metrics_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("train/rl_step"):
                continue
            rows.append({k: float(v) for k, v in row.items() if k and v not in (None, "")})
    return sorted(rows, key=lambda r: r["train/rl_step"])


def moving_average(values: list[float], span: int = SMOOTHING) -> list[float]:
    """Exponential moving average with alpha = 2 / (span + 1), started at the first value."""
    alpha, out = 2.0 / (span + 1), []
    for value in values:
        out.append(value if not out else alpha * value + (1 - alpha) * out[-1])
    return out


def plot_rl_dashboard(run_dir: Path, stage: str = "rl") -> Path | None:
    """Write `<run_dir>/plots/<stage>_dashboard.png` from `<run_dir>/<stage>/csv/metrics.csv`;
    None when the stage logged no RL step."""
    found = sorted((run_dir / stage).glob("csv/**/metrics.csv"))
    rows = rl_rows(found[0]) if found else []
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["train/rl_step"] for r in rows]
    panels = [
        (t, next(k for k in keys if any(k in r for r in rows)), s)
        for t, keys, s in PANELS
        if any(k in r for r in rows for k in keys)
    ]
    timings = sorted({k for r in rows for k in r if k.startswith("timing_s/") and k != "timing_s/step"})
    count = len(panels) + bool(timings)
    columns = min(4, count)
    lines = -(-count // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(4 * columns, 3 * lines), squeeze=False)
    flat = list(axes.flat)
    for ax, (title, key, smoothed) in zip(flat, panels):
        xs = [s for s, r in zip(steps, rows) if key in r]
        ys = [r[key] for r in rows if key in r]
        ax.plot(
            xs, ys, marker="." if len(xs) < 30 else None, alpha=0.5 if smoothed else 1.0, label="per step"
        )
        if smoothed and len(ys) > 1:
            ax.plot(xs, moving_average(ys), label=f"EMA ({SMOOTHING} steps)")
            ax.legend(fontsize=7)
        ax.set_title(f"{title}  [{key}]", fontsize=8)
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    if timings:
        ax = flat[len(panels)]
        ax.stackplot(
            steps,
            [[r.get(k, 0.0) for r in rows] for k in timings],
            labels=[k.split("/", 1)[1] for k in timings],
        )
        ax.set_title("step time by phase (s)", fontsize=9)
        ax.set_xlabel("RL step")
        ax.legend(fontsize=6, loc="upper left")
    for ax in flat[count:]:
        ax.axis("off")
    fig.suptitle(f"{stage}: {len(rows)} steps", fontsize=10)
    fig.tight_layout()
    out = run_dir / "plots" / f"{stage}_dashboard.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
