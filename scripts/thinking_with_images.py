"""Thinking with images at toy scale: vthinker_tiny with the code tool vs the same budget without.

Runs, one after the other (issue 4 point 6):
  1. `python -m vrl +experiment=vthinker_tiny`: perception SFT -> flywheel -> SFT -> interaction
     SFT on executed zoom trajectories -> GRPO with the live code tool -> eval with the tool;
  2. the same command with `tool=none data.interaction.variant=direct`: every stage and step
     count identical, but the interaction data answers at once and RL/eval run without a tool;
  3. each arm's interaction-SFT checkpoint evaluated alone (what its RL started from);
  4. the without-tool arm again with as many interaction-SFT steps as fit in the seconds the
     with-tool arm spent on interaction SFT + GRPO (its trajectories are longer and carry two
     images), at the measured without-tool seconds per step: the same wall-time budget;
  5. the with-tool arm's GRPO again from the same checkpoint with every token sampled (top_p 1.0
     instead of V-Thinker's 0.9), to show what full-distribution sampling does to sandbox errors.
Writes results.md (table, RL tool statistics, seconds per stage), accuracy.png and rl_curves.png.

    python scripts/thinking_with_images.py --out-dir experiments/thinking_with_images \\
        --work-dir /tmp/thinking_with_images [overrides applied to every run...]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from vrl_runs import REPO, eval_metrics, run_vrl, stage, stage_seconds

BENCH = "zoom_count_holdout"
EXPERIMENT = "+experiment=vthinker_tiny"
ARMS = {  # name -> overrides on top of +experiment=vthinker_tiny
    "with tool": [],
    "without tool": ["tool=none", "data.interaction.variant=direct"],
}


def rl_curves(run_dir: Path) -> list[dict[str, float]]:
    """Per-step RL metrics from the csv logger (one row per logged step, metrics merged by step)."""
    by_step: dict[int, dict[str, float]] = {}
    with (run_dir / "rl" / "csv" / "metrics.csv").open() as handle:
        for row in csv.DictReader(handle):
            if not row.get("step"):
                continue
            values = {k: float(v) for k, v in row.items() if v not in ("", None)}
            by_step.setdefault(int(float(row["step"])), {}).update(values)
    return [by_step[s] for s in sorted(by_step)]


def mean(rows: list[dict[str, float]], key: str) -> float | None:
    values = [r[key] for r in rows if key in r]
    return sum(values) / len(values) if values else None


def collect(arm: str, run_dir: Path, after_sft: dict[str, float]) -> dict:
    """One row of the report: the run's final eval, its RL curves and stage seconds."""
    return {
        "arm": arm,
        "after_sft": after_sft,
        "after_rl": eval_metrics(run_dir, BENCH),
        "curves": rl_curves(run_dir),
        "seconds": stage_seconds(run_dir),
        "rl_steps": int(stage(run_dir, "rl")["metrics"].get("rl/steps", 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "experiments" / "thinking_with_images")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/thinking_with_images"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides applied to every run")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    work, extra = args.work_dir, args.overrides
    results = []
    for arm, arm_overrides in ARMS.items():
        run_dir, sft_dir = work / arm.replace(" ", "_"), work / (arm.replace(" ", "_") + "_sft_checkpoint")
        run_vrl(run_dir, [EXPERIMENT, *arm_overrides, *extra])
        model = f"products.model={run_dir}/sft_interaction/model"
        run_vrl(sft_dir, [EXPERIMENT, *arm_overrides, *extra, "stages=[eval]", model])
        results.append(collect(arm, run_dir, eval_metrics(sft_dir, BENCH)))

    tool_dir, plain_dir = work / "with_tool", work / "without_tool"
    tool, plain = results
    sft_steps = stage(plain_dir, "sft_interaction")["metrics"]["sft_interaction/steps"]
    per_step = plain["seconds"]["sft_interaction"] / sft_steps
    budget = tool["seconds"]["sft_interaction"] + tool["seconds"]["rl"] - plain["seconds"]["rl"]
    equal_steps = round(budget / per_step)
    equal_dir = work / "without_tool_equal_time"
    steps = f"stage.sft_interaction.max_steps={equal_steps}"
    run_vrl(equal_dir, [EXPERIMENT, *ARMS["without tool"], *extra, steps])
    results.append(collect(f"without tool, same wall time ({equal_steps} SFT steps)", equal_dir, {}))

    full_dir = work / "with_tool_top_p_1"
    start = [f"products.model={tool_dir}/sft_interaction/model"]
    start.append(f"+products.interaction_train={tool_dir}/data_interaction/train")
    run_vrl(full_dir, [EXPERIMENT, *extra, "stages=[rl,eval]", "rollout.sampling.top_p=1.0", *start])
    results.append(collect("with tool, GRPO at top_p 1.0", full_dir, tool["after_sft"]))
    write_report(args.out_dir, results, extra)


def write_report(out: Path, results: list[dict], overrides: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def pct(metrics: dict[str, float], key: str) -> str:
        return f"{metrics[key]:.1f}" if key in metrics else "-"

    lines = [
        "| arm | hold-out accuracy after interaction SFT (%) | after GRPO (%) | items | "
        "trajectories calling the tool (%) | sandbox errors (% of calls) | stage s (sum) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        final = r["after_rl"]
        lines.append(
            f"| {r['arm']} | {pct(r['after_sft'], 'accuracy')} | **{final['accuracy']:.1f}** | "
            f"{int(final['items'])} | {pct(final, 'tool/traj_with_call_pct') if 'tool/traj_with_call_pct' in final else '0.0'} | "
            f"{pct(final, 'tool/error_pct')} | {sum(r['seconds'].values()):.0f} |"
        )
    lines += [
        "",
        "During GRPO (mean over its steps; training prompts, temperature 1):",
        "",
        "| arm | steps | reward accuracy, first 5 steps | last 5 steps | trajectories calling the tool (%) | "
        "sandbox errors (% of calls) | calls per trajectory | s per step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c = r["curves"]
        first, last = mean(c[:5], "reward/accuracy/mean"), mean(c[-5:], "reward/accuracy/mean")
        call, err = mean(c, "tool/traj_with_call_frac"), mean(c, "tool/error_rate")
        per_call, step_s = mean(c, "tool/calls_per_traj"), mean(c, "timing_s/step")
        lines.append(
            f"| {r['arm']} | {r['rl_steps']} | {100 * (first or 0):.1f} | {100 * (last or 0):.1f} | "
            f"{100 * (call or 0):.1f} | {100 * (err or 0):.2f} | {per_call or 0:.2f} | {step_s or 0:.1f} |"
        )
    names = list(dict.fromkeys(n for r in results for n in r["seconds"]))
    lines += ["", "Seconds per stage:", "", "| arm | " + " | ".join(names) + " |"]
    lines.append("|---|" + "---:|" * len(names))
    for r in results:
        lines.append(
            f"| {r['arm']} | "
            + " | ".join(f"{r['seconds'][n]:.0f}" if n in r["seconds"] else "-" for n in names)
            + " |"
        )
    lines += ["", f"Extra overrides: `{' '.join(overrides) or '(none)'}`"]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    fig, ax = plt.subplots(figsize=(7, 4.4))
    width = 0.8 / len(results)
    for i, r in enumerate(results):
        points = [
            (x, m["accuracy"]) for x, m in enumerate((r["after_sft"], r["after_rl"])) if "accuracy" in m
        ]
        bars = ax.bar([x + width * i for x, _ in points], [v for _, v in points], width, label=r["arm"])
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.axhline(results[0]["after_rl"].get("chance", 25.0), color="grey", ls="--", lw=1, label="chance")
    ax.set_xticks([0.4 - width / 2, 1.4 - width / 2], ["after interaction SFT", "after GRPO"])
    ax.set_ylabel(f"{BENCH} accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=120)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for r in results:
        steps = [c["step"] for c in r["curves"]]
        (line,) = axes[0].plot(
            steps, [100 * c.get("reward/accuracy/mean", 0) for c in r["curves"]], label=r["arm"]
        )
        if any("tool/traj_with_call_frac" in c for c in r["curves"]):
            calls = [100 * c.get("tool/traj_with_call_frac", 0) for c in r["curves"]]
            errors = [100 * c.get("tool/error_rate", 0) for c in r["curves"]]
            axes[1].plot(steps, calls, color=line.get_color(), label=f"{r['arm']}: calls the tool")
            axes[1].plot(steps, errors, color=line.get_color(), ls="--", label=f"{r['arm']}: sandbox errors")
    axes[0].set(xlabel="GRPO step", ylabel="training reward accuracy (%)", ylim=(0, 100))
    axes[1].set(xlabel="GRPO step", ylabel="% of trajectories / of calls", ylim=(-2, 102))
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rl_curves.png", dpi=120)


if __name__ == "__main__":
    main()
