"""SFT alone vs SFT + RL at the same wall-time budget, on the embedded default (issue 3 point 7).

Runs, one after the other (never concurrently: the budget is wall time on this machine):
  1. `python -m vrl` (data -> sft -> rl -> eval): the embedded default, SFT + RL;
  2. its SFT checkpoint evaluated alone (what RL started from);
  3. `python -m vrl stages=[data,sft,eval] stage.sft.max_steps=S`: SFT alone, where S spends the
     time run 1 spent on SFT + RL, at run 1's measured SFT seconds per step.
Writes results.md (table, per-family accuracy, seconds per stage) and accuracy.png to --out-dir.

    python scripts/sft_vs_rl.py --out-dir experiments/sft_vs_rl --work-dir /tmp/sft_vs_rl [overrides...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vrl_runs import REPO, run_vrl, stage
from vrl_runs import eval_metrics as benchmark_metrics

BENCH = "procedural_holdout"


def eval_metrics(run_dir: Path) -> dict[str, float]:
    return benchmark_metrics(run_dir, BENCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "experiments" / "sft_vs_rl")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/sft_vs_rl"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides applied to every run")
    args = parser.parse_args()
    work, out = args.work_dir, args.out_dir
    out.mkdir(parents=True, exist_ok=True)

    both = work / "sft_rl"
    wall = {"sft_rl": run_vrl(both, args.overrides)}
    sft_s, rl_s = stage(both, "sft")["seconds"], stage(both, "rl")["seconds"]
    sft_steps = int(stage(both, "sft")["metrics"]["sft/steps"])
    rl_steps = int(stage(both, "rl")["metrics"]["rl/steps"])
    start_ckpt = work / "sft_checkpoint"
    wall["sft_checkpoint"] = run_vrl(
        start_ckpt, [*args.overrides, "stages=[eval]", f"products.model={both}/sft/model"]
    )

    equal_steps = round((sft_s + rl_s) / (sft_s / sft_steps))
    longer = work / "sft_equal_time"
    wall["sft_equal_time"] = run_vrl(
        longer, [*args.overrides, "stages=[data,sft,eval]", f"stage.sft.max_steps={equal_steps}"]
    )
    rows = [
        (f"SFT {sft_steps} steps (the RL start)", eval_metrics(start_ckpt), sft_s, 0.0),
        (f"SFT {sft_steps} + RL {rl_steps} steps", eval_metrics(both), sft_s, rl_s),
        (f"SFT {equal_steps} steps (same time)", eval_metrics(longer), stage(longer, "sft")["seconds"], 0.0),
    ]
    write_report(out, rows, wall, args.overrides)


def write_report(out: Path, rows: list, wall: dict[str, float], overrides: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = sorted({k.split("/", 1)[1] for _, m, _, _ in rows for k in m if k.startswith("accuracy/")})
    lines = [
        "| run | hold-out accuracy (%) | items | SFT s | RL s | SFT + RL s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, metrics, sft_s, rl_s in rows:
        lines.append(
            f"| {name} | {metrics['accuracy']:.1f} | {int(metrics['items'])} | {sft_s:.0f} | {rl_s:.0f} | {sft_s + rl_s:.0f} |"
        )
    lines += ["", "| run | " + " | ".join(families) + " |", "|---|" + "---:|" * len(families)]
    for name, metrics, _, _ in rows:
        lines.append(f"| {name} | " + " | ".join(f"{metrics[f'accuracy/{f}']:.1f}" for f in families) + " |")
    lines += [
        "",
        "Whole `python -m vrl` processes (s): " + ", ".join(f"{k} {v:.0f}" for k, v in wall.items()),
    ]
    lines += [f"Overrides: `{' '.join(overrides) or '(none: the embedded default)'}`"]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(rows)
    labels = ["all", *families]
    for i, (name, metrics, _, _) in enumerate(rows):
        values = [metrics["accuracy"]] + [metrics[f"accuracy/{f}"] for f in families]
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
    ax.set_xticks([x + width for x in range(len(labels))], labels)
    ax.set_ylabel("hold-out accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=120)


if __name__ == "__main__":
    main()
