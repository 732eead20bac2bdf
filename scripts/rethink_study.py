"""Tabulate forced rethinking against the same RL without it (experiments/forced_rethinking).

    python scripts/rethink_study.py forced=/r/f_s0,/r/f_s1 none=/r/n_s0,/r/n_s1 --out DIR

Each argument is `variant=<run dir>[,...]`, one run (seed) per directory with `rl` and `eval`
stages. From `<run>/rl/csv/metrics.csv`: the share of rollouts rethought (attempted) and
accepted, and the policy's own cue rate over training (`rethink/native_cue_rate`: responses of
the fresh rollout, before any trigger is appended, that hold a rethinking cue). From
`<run>/eval/procedural_holdout/items.jsonl` (greedy): accuracy, the share of responses with a
cue and with more than one stated answer, and whether re-answering was useful: the first
stated answer wrong and the final (graded) one right (fixed), or right then wrong (broken). Writes `results.md` and
`curves.png` into `--out`.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from plot_ssr_study import (  # this folder (scripts run by path)
    first_last,
    read_rl,
    series,
    smooth,
    spread,
    write_results,
)

from vrl.answer.cues import RETHINK_CUES, count_cues
from vrl.answer.extraction import extract_boxed

WINDOW = 10
CURVES = [
    ("rethink/attempt_rate", "rollouts given a trigger"),
    ("rethink/replaced_frac", "rollouts replaced (accepted)"),
    ("rethink/native_cue_rate", "own responses with a cue"),
    ("rollout/reward_mean", "rollout reward (after replacement)"),
]


def first_and_final_answer(response: str) -> tuple[str | None, str | None, int]:
    """The response's first stated `\\boxed{}` answer, its last (the graded one), and how many
    `\\boxed{` it writes: a policy may re-answer without a cue (the tiny one learns to)."""
    starts = [i for i in range(len(response)) if response.startswith("\\boxed{", i)]
    if not starts:
        return None, None, 0
    first = extract_boxed(response[: starts[1]] if len(starts) > 1 else response)
    return first, extract_boxed(response), len(starts)


def cue_outcomes(items: list[dict]) -> dict[str, float]:
    """Accuracy and how the run's hold-out responses re-examine themselves (percent of items):
    with a cue; with more than one answer; the final answer differing from the first and right
    where the first was wrong (fixed) or wrong where the first was right (broken)."""
    n = len(items)
    fixed = broken = multi = cued = 0
    for item in items:
        first, final, answers = first_and_final_answer(item["response"])
        cued += count_cues(item["response"], RETHINK_CUES) > 0
        multi += answers > 1
        if first is not None and first != final:
            if item["correct"]:
                fixed += 1
            elif first == item["gold"]:
                broken += 1
    return {
        "accuracy": 100 * sum(item["correct"] for item in items) / n,
        "cue": 100 * cued / n,
        "multi": 100 * multi / n,
        "fixed": 100 * fixed / n,
        "broken": 100 * broken / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="variant=<run dir>[,<run dir>...] (one dir per seed)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    variants = {
        name: [Path(p) for p in paths.split(",")] for name, paths in (a.split("=", 1) for a in args.runs)
    }
    args.out.mkdir(parents=True, exist_ok=True)
    fig, grid = plt.subplots(2, 2, figsize=(11, 7.5))
    axes = grid.ravel()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    header = (
        "| variant | seeds | hold-out accuracy (%) | responses with a cue (%) | with more than one answer (%) "
        "| final answer fixed a wrong first one (%) "
        "| broke a right first one (%) | rethought (attempted), first -> last 10 steps "
        "| accepted (replaced) | own cue rate in rollouts | RL s / step |"
    )
    table = [header, "|" + "---|" * (header.count("|") - 1)]
    for index, (name, runs) in enumerate(variants.items()):
        color = colors[index % len(colors)]
        outcomes = []
        for run in runs:
            with open(run / "eval" / "procedural_holdout" / "items.jsonl") as f:
                outcomes.append(cue_outcomes([json.loads(line) for line in f]))
        runs_rows = [read_rl(run) for run in runs]
        for axis, (key, title) in zip(axes, CURVES):
            for rows in runs_rows:
                values = series(rows, key)
                if all(math.isnan(v) for v in values):
                    continue
                axis.plot(smooth(values), color=color, alpha=0.8)
            axis.set(title=f"{title} ({WINDOW}-step mean)", xlabel="RL step", ylim=(0, 1.02))
        axes[3].plot([], [], color=color, label=name)

        step_s = statistics.fmean(statistics.fmean(series(r, "timing_s/step")) for r in runs_rows)
        table.append(
            f"| {name} | {len(runs)} | {spread([o['accuracy'] for o in outcomes])} "
            f"| {spread([o['cue'] for o in outcomes])} | {spread([o['multi'] for o in outcomes])} "
            f"| {spread([o['fixed'] for o in outcomes])} "
            f"| {spread([o['broken'] for o in outcomes])} "
            f"| {first_last(runs_rows, 'rethink/attempt_rate')} | {first_last(runs_rows, 'rethink/replaced_frac')} "
            f"| {first_last(runs_rows, 'rethink/native_cue_rate')} | {step_s:.2f} |"
        )
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(args.out / "curves.png", dpi=100)
    write_results(args.out, "scripts/rethink_study.py", variants, table)


if __name__ == "__main__":
    main()
