"""The flywheel study: 5 offline rounds from the built-in seeds, then SFT on flywheel vs seed-only items.

1. `python -m vrl flywheel=procedural stages=[flywheel]` for `--rounds` rounds: pool and item growth
   per round, acceptance, throughput (the stage's own report.md + growth.png).
2. The same creator and checker with the pools frozen at the seeds (`flywheel.evolve=false`, no
   extender), more items per combination so it yields as many items: the seed-only data.
3. N = min(both) training items from each, the same SFT budget (`--sft-steps`) and seed, then eval on
   the procedural hold-out (`stages=[sft,eval] products.train_data=<dir>`).

    python scripts/flywheel_growth.py --out experiments/flywheel_growth          # 1,500 SFT steps per arm

Writes `<out>/results.json`, `<out>/results.md` and `<out>/growth.png` (copied from the run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def vrl(args: list[str], log: Path) -> float:
    """Run `python -m vrl ARGS` (offline W&B), tee to `log`; returns wall seconds; raises on failure."""
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    with open(log, "w") as handle:
        code = subprocess.call(
            [sys.executable, "-m", "vrl", *args], cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    if code != 0:
        raise SystemExit(f"python -m vrl {' '.join(args)} failed ({code}); see {log}")
    return time.perf_counter() - start


def subset(src: Path, dst: Path, n: int, seed: int) -> None:
    from datasets import load_from_disk

    data = load_from_disk(str(src)).shuffle(seed=seed).select(range(n))
    shutil.rmtree(dst, ignore_errors=True)
    data.save_to_disk(str(dst))


def stats_of(run: Path) -> list[dict]:
    return [
        json.loads((d / "stats.json").read_text())
        for d in sorted((run / "flywheel" / "rounds").glob("round_*"))
    ]


def eval_metrics(run: Path) -> dict[str, float]:
    done = json.loads((run / "eval" / "DONE.json").read_text())
    return {
        k.removeprefix("eval/procedural_holdout/"): v
        for k, v in done["metrics"].items()
        if k.startswith("eval/procedural_holdout/")
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "experiments" / "flywheel_growth")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/vrl-flywheel-growth"), help="run dirs (large)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed-items-per-combination", type=int, default=40)
    parser.add_argument("--sft-steps", type=int, default=1500)  # 250 is too short to read images (README)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="SFT/eval seeds per arm")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    common = [
        "logger=csv",
        f"stage.flywheel.rounds={args.rounds}",
        "flywheel=procedural",
        "sandbox=local",  # the flywheel executes generated code
        "stages=[flywheel]",
    ]
    timing = {}
    arms = {
        "flywheel": [],
        "seed_only": ["flywheel.evolve=false", "flywheel.extender=null",
                      f"flywheel.creator.items_per_combination={args.seed_items_per_combination}"],
    }  # fmt: skip
    for arm, extra in arms.items():
        run = args.work / arm
        if not (run / "flywheel" / "DONE.json").exists():
            timing[arm] = vrl([*common, *extra, f"hydra.run.dir={run}"], args.work / f"{arm}.log")
    from datasets import load_from_disk

    sizes = {arm: len(load_from_disk(str(args.work / arm / "flywheel" / "train"))) for arm in arms}
    n = min(sizes.values())
    results = {"rounds": args.rounds, "train_items_available": sizes, "n": n, "sft_steps": args.sft_steps,
               "growth": {arm: stats_of(args.work / arm) for arm in arms}, "timing_s": timing, "eval": {}}  # fmt: skip
    jobs = []  # every SFT+eval run at once: on a shared CPU, parallel runs get more of it
    for arm in arms:
        data = args.work / f"{arm}_n{n}"
        if not data.exists():
            subset(args.work / arm / "flywheel" / "train", data, n, seed=0)
        for seed in args.seeds:
            run = args.work / f"sft_{arm}_s{seed}"
            if not (run / "eval" / "DONE.json").exists():
                sft = [
                    "stages=[sft,eval]", f"products.train_data={data}", f"products.val_data={args.work / arm / 'flywheel' / 'val'}",
                    f"stage.sft.max_steps={args.sft_steps}", "stage.sft.val_every_n_steps=100", "stage.sft.save_every_n_steps=100",
                    f"seed={seed}", "logger=csv", f"hydra.run.dir={run}",
                ]  # fmt: skip
                jobs.append((f"sft_{arm}_s{seed}", sft))
    with ThreadPoolExecutor(max(1, len(jobs))) as pool:
        for name, seconds in zip(
            [j[0] for j in jobs], pool.map(lambda j: vrl(j[1], args.work / f"{j[0]}.log"), jobs)
        ):
            timing[name] = seconds
    for arm in arms:
        for seed in args.seeds:
            results["eval"][f"{arm}/seed{seed}"] = eval_metrics(args.work / f"sft_{arm}_s{seed}")
    shutil.copy(args.work / "flywheel" / "flywheel" / "growth.png", args.out / "growth.png")
    shutil.copy(args.work / "flywheel" / "flywheel" / "report.md", args.out / "flywheel_report.md")
    shutil.copy(args.work / "seed_only" / "flywheel" / "report.md", args.out / "seed_only_report.md")
    (args.out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    (args.out / "results.md").write_text(to_markdown(results))
    print(to_markdown(results))


def to_markdown(results: dict) -> str:
    lines = [f"N = {results['n']} training items per arm, SFT {results['sft_steps']} steps.", ""]
    metrics = sorted({k for v in results["eval"].values() for k in v})
    lines += ["| arm/seed | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    lines += [
        f"| {arm} | " + " | ".join(f"{v.get(m, float('nan')):.1f}" for m in metrics) + " |"
        for arm, v in results["eval"].items()
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
