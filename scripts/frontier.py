"""The embedded default's accuracy/time frontier (issue 14, point 2): whole `python -m vrl`
processes at several budgets, 3 seeds each, one after the other (never concurrently: the budget
is wall time on this machine).

    python scripts/frontier.py --out experiments/embedded_default/frontier --work /tmp/frontier

Choices (each a full process: data, sft, [rl,] eval; the hold-out is the default's):
  sft600, sft1200, sft1800: SFT alone for that many steps (its cosine schedule fitted to them);
  sft1200_lr2e-3: sft1200 at twice the default's peak learning rate;
  sft1200+rl60: sft1200's SFT, then 60 RL steps of the default's RL with the overlapped
    rollout (`stage.rl.max_staleness=1`), the RL the time `sft1800` spends on 600 more steps;
  sft1200+rl300: sft1200's SFT, then 300 synchronous RL steps with the `fast` engine (added
    2026-12-07, when an RL step became ~0.36 s: about the time of those 600 SFT steps).
A seed's runs share their data and, for the same SFT steps, their SFT weights (checked: md5),
so `sft1200` is the exact start of `sft1200+rl60` and the paired test compares the same items.
Writes results.md (accuracy, spread over seeds, wall, paired sign tests) and frontier.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from plot_ssr_study import holdout_items, sign_test, spread  # noqa: E402
from vrl_runs import eval_metrics, run_vrl, stage_seconds  # noqa: E402

BENCH = "procedural_holdout"
CHOICES: dict[str, list[str]] = {
    "sft600": ["stages=[data,sft,eval]", "stage.sft.max_steps=600"],
    "sft1200": ["stages=[data,sft,eval]", "stage.sft.max_steps=1200"],
    "sft1200+rl60": ["stage.sft.max_steps=1200", "stage.rl.max_steps=60", "stage.rl.max_staleness=1"],
    "sft1800": ["stages=[data,sft,eval]", "stage.sft.max_steps=1800"],
    "sft1200_lr2e-3": ["stages=[data,sft,eval]", "stage.sft.max_steps=1200", "stage.sft.lr=2.0e-3"],
    # synchronous RL with the fast engine (2026-12-07): ~0.36 s a step, so 300 steps cost about
    # what 600 more SFT steps do
    "sft1200+rl300": ["stage.sft.max_steps=1200", "stage.rl.max_steps=300"],
}
PAIRS = [
    ("sft1200+rl60", "sft1200", "RL vs its SFT start"),
    ("sft1200+rl60", "sft1800", "RL vs SFT given RL's time"),
    ("sft1200+rl300", "sft1200", "RL (300 steps, fast engine) vs its SFT start"),
    ("sft1200+rl300", "sft1800", "RL (300 steps, fast engine) vs SFT given about RL's time"),
]


def run_dir(work: Path, choice: str, seed: int) -> Path:
    return work / f"{choice.replace('+', '_')}_s{seed}"


def weights_md5(run: Path) -> str:
    digest = hashlib.md5()
    for path in sorted((run / "sft" / "model").glob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/frontier"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "runs.jsonl"
    done = {(r["choice"], r["seed"]) for r in map(json.loads, log.open())} if log.exists() else set()
    for seed in args.seeds:
        for choice, overrides in CHOICES.items():
            if (choice, seed) in done:
                continue
            run = run_dir(args.work, choice, seed)
            load = os.getloadavg()[0]
            wall = run_vrl(run, [*overrides, f"seed={seed}", "logger.wandb_mode=disabled"])
            record = {
                "choice": choice,
                "seed": seed,
                "wall_s": round(wall, 1),
                "load_before": round(load, 2),
                "stages_s": {k: round(v, 1) for k, v in stage_seconds(run).items()},
                "metrics": eval_metrics(run, BENCH),
                "sft_md5": weights_md5(run),
                "run": str(run),
            }
            with log.open("a") as f:
                f.write(json.dumps(record) + "\n")
    report(args.out, [json.loads(line) for line in log.open()])


def report(out: Path, records: list[dict]) -> None:
    by = {(r["choice"], r["seed"]): r for r in records}
    seeds = sorted({r["seed"] for r in records})
    families = sorted(k.split("/")[1] for k in records[0]["metrics"] if k.startswith("accuracy/"))
    lines = [
        "| choice | hold-out accuracy (%), mean ± sd (seeds) | wall s per process, mean (min-max) | stages s (mean) |",
        "|---|---|---|---|",
    ]
    for choice in CHOICES:
        runs = [by[(choice, s)] for s in seeds if (choice, s) in by]
        if not runs:
            continue
        acc = [r["metrics"]["accuracy"] for r in runs]
        walls = [r["wall_s"] for r in runs]
        stages = {k: sum(r["stages_s"].get(k, 0) for r in runs) / len(runs) for k in runs[0]["stages_s"]}
        lines.append(
            f"| {choice} | {spread(acc)} | {sum(walls) / len(walls):.0f} ({min(walls):.0f}-{max(walls):.0f}) | "
            + ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
            + " |"
        )
    lines += ["", "| choice | " + " | ".join(families) + " |", "|---|" + "---:|" * len(families)]
    for choice in CHOICES:
        runs = [by[(choice, s)] for s in seeds if (choice, s) in by]
        if runs:
            cells = [
                sum(r["metrics"].get(f"accuracy/{f}", float("nan")) for r in runs) / len(runs)
                for f in families
            ]
            lines.append(f"| {choice} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    lines += [
        "",
        "| paired (pooled over seeds) | up (wrong -> right) | down | p (sign test) | same SFT weights |",
    ]
    lines.append("|---|---:|---:|---:|---|")
    for a, b, label in PAIRS:
        up = down = 0
        same = []
        for s in seeds:
            if (a, s) not in by or (b, s) not in by:
                continue
            items_a, items_b = holdout_items(Path(by[(a, s)]["run"])), holdout_items(Path(by[(b, s)]["run"]))
            up += sum(items_a[i] and not items_b[i] for i in items_a)
            down += sum(items_b[i] and not items_a[i] for i in items_a)
            same.append(by[(a, s)]["sft_md5"] == by[(b, s)]["sft_md5"])
        lines.append(f"| {a} vs {b}: {label} | {up} | {down} | {sign_test(up, down):.3g} | {same} |")
    table = "\n".join(lines)
    (out / "results.md").write_text(
        "# Accuracy/time frontier of `python -m vrl` (scripts/frontier.py)\n\n"
        + table
        + "\n\n![](frontier.png)\n"
    )
    print(table)
    fig, ax = plt.subplots(figsize=(6, 4))
    for choice in CHOICES:
        runs = [by[(choice, s)] for s in seeds if (choice, s) in by]
        if runs:
            ax.scatter([r["wall_s"] for r in runs], [r["metrics"]["accuracy"] for r in runs], label=choice)
    ax.axvline(180, color="grey", linestyle="--", label="3 minutes")
    ax.axhline(90, color="grey", linestyle=":", label="90 %")
    ax.set_xlabel("wall seconds of the whole `python -m vrl` process (2 cores)")
    ax.set_ylabel("hold-out accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "frontier.png", dpi=120)


if __name__ == "__main__":
    main()
