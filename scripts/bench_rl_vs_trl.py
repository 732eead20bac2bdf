"""RL step speed: N GRPO steps of vrl's `RLModule` vs N steps of TRL's `GRPOTrainer`, one process.

Both sides train a fresh copy of the same tiny Qwen2.5-VL (random init, float32, CPU) on the
same prompts with images (step k of both sees the same P procedural problems), P x G responses
per step, the same sampling (temperature 1, top-p 1, top-k off, `max_new_tokens` cap),
the same objective (GRPO group z-score advantages, PPO clip 0.2, per-sequence token mean, no
KL, one PPO epoch, one AdamW step at a constant lr, grad-norm clip 1, float32, no gradient
checkpointing) and the same reward
(`vrl.reward.accuracy_reward`: vrl through its `RewardPool` worker processes, TRL inline, as
each framework runs rewards). vrl's micro-batch is the whole step batch, like TRL's one
forward per step.

Per step: `wall` is the time between consecutive step ends (first step: from the train loop
start), so it includes data loading and framework overhead; the reported per-step number is
the median over steps 2..N (steady state). `setup` is model load + trainer construction.

    python scripts/bench_rl_vs_trl.py --steps 10          # needs `pip install -e .[bench]` (trl)

The vrl side is the real rl stage, `python -m vrl stages=[rl]` in a subprocess, timed by
vrl's own `vrl.trainer.StepTimer` callback (`+trainer.callbacks=[...]`); its `setup` also
counts the interpreter and imports, which TRL's in-process setup does not. Side `vrl` rolls out
with vrl's default engine (`rollout=fast`, its own decode loop), side `vrl_hf` with
`rollout=hf` (transformers' `generate`, as TRL does); both draw the same samples under one seed
(tests/rollout/test_hf_engine_on_cpu.py). Side `vrl_overlap` is `vrl` with
`stage.rl.max_staleness=1`: the rollout of step k+1 runs in a worker process (the second core)
while step k updates; its CPU figure counts the trainer process only. Prints a table,
`ratio vrl/trl (median step, steps 2..N): X.XXx` (and one for each other vrl side run) and the
same ratio of process CPU seconds per step (steadier on a shared machine); `--out DIR` also writes `results.json`, `steps.png` and,
with `--profile`, cProfile listings of each side.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Heavy imports (torch, transformers, trl) stay inside functions, so `--help` and a bad `--order`
# answer at once.
PHASES_VRL = ("rollout", "reward", "old_logprob", "update")
# vrl sides -> their overrides: the default engine (`fast`, vrl's own decode loop), transformers'
# `generate` (`hf`, the engine TRL uses too), and the default engine overlapped with the update
# (one-step off-policy: the rollout of step k+1 in a worker process while step k updates).
VRL_SIDES = {
    "vrl": ["rollout=fast"],
    "vrl_hf": ["rollout=hf"],
    "vrl_overlap": ["rollout=fast", "stage.rl.max_staleness=1"],
}
PHASES_TRL = ("generate", "reward", "generate_and_score", "loss_forward", "training_step", "optimizer")


def build_fixture(work: Path, num_samples: int, image_size: int, prompts: int, steps: int, seed: int):
    """The tiny model directory, the vrl train set on disk, and the step-ordered TRL rows."""
    from datasets import Dataset

    from vrl.data.procedural import ProceduralSource
    from vrl.data.schema import Sample, chat_messages, hf_features
    from vrl.model import TinyQwen25VL
    from vrl.rl.data import PromptStream

    source = ProceduralSource(num_samples=num_samples, image_size=image_size)
    samples = [s for s in source.iter_samples() if isinstance(s, Sample)]
    model_dir = TinyQwen25VL().resolve(work / "model", list(source.corpus()))
    train = Dataset.from_list([s.to_record() for s in samples], features=hf_features())
    train_dir = work / "train"
    train.save_to_disk(str(train_dir))
    # The exact batches vrl's seeded prompt stream hands out, in order (+1: Lightning prefetches).
    stream = PromptStream(train, prompts, seed)
    ordered = [s for k in range(steps + 1) for s in stream.batch_at(k)]
    rows = [
        {
            "prompt": chat_messages(s),
            "images": [image.convert("RGB") for image in s.images],
            "answer": s.answer,
            "answer_type": s.answer_type,
            "choices": list(s.choices),
        }
        for s in ordered
    ]
    return model_dir, train_dir, rows


@contextmanager
def maybe_profile(enabled: bool, sink: dict[str, str], key: str):
    profiler = cProfile.Profile() if enabled else None
    if profiler:
        profiler.enable()
    try:
        yield
    finally:
        if profiler:
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(60)
            sink[key] = text.getvalue()


def run_vrl(
    args, side: str, model_dir: str, train_dir: Path, work: Path, profiles: dict[str, str]
) -> dict[str, Any]:
    """N RL steps of the real rl stage: `python -m vrl stages=[rl]` on the fixture's model and
    prompts, with the matched settings, the side's overrides and vrl's own step timer
    (`vrl.trainer.StepTimer`)."""
    run_dir = work / f"vrl-run-{len(list(work.glob('vrl-run-*')))}"
    overrides = [
        "stages=[rl]",
        f"products.model={model_dir}",
        f"products.train_data={train_dir}",
        f"seed={args.seed}",
        "algorithm=grpo",  # group z-score advantages, PPO clip 0.2, per-sequence token mean
        "algorithm.kl_estimator=null",
        "algorithm.kl_coef=0.0",
        "replay=none",
        "rethink=none",
        "reward=math_verify",  # accuracy_reward, in the RewardPool's worker processes
        f"reward.pool.num_workers={args.reward_workers}",
        *VRL_SIDES[side],
        "rollout.batch_size=32",
        f"rollout.sampling.max_new_tokens={args.max_new_tokens}",
        "rollout.sampling.temperature=1.0",
        "rollout.sampling.top_p=1.0",
        "rollout.sampling.top_k=0",
        f"stage.rl.prompts_per_step={args.prompts}",
        f"stage.rl.group_size={args.group_size}",
        f"stage.rl.max_steps={args.steps}",
        f"stage.rl.lr={args.lr}",
        "stage.rl.weight_decay=0.0",
        "stage.rl.gradient_clip_val=1.0",
        f"stage.rl.micro_batch_size={args.micro_batch_size or args.prompts * args.group_size}",
        f"stage.rl.save_every_n_steps={args.steps + 1}",  # as TRL's save_strategy=no (one save at the end)
        "trainer.enable_progress_bar=false",
        "logger=csv",
        "+trainer.callbacks=[{_target_: vrl.trainer.StepTimer}]",
        f"hydra.run.dir={run_dir}",
    ]
    command = [sys.executable, "-m", "vrl", *overrides]
    if args.profile:
        command[1:3] = ["-m", "cProfile", "-o", str(run_dir.with_suffix(".prof")), "-m", "vrl"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    if args.threads > 0:
        env |= {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    total_s = time.time() - start
    if done.returncode != 0:
        raise SystemExit(f"bench: the vrl side failed:\n{done.stderr[-3000:]}")
    record = json.loads((run_dir / "rl" / "step_times.json").read_text())
    if args.profile:
        text = io.StringIO()
        pstats.Stats(str(run_dir.with_suffix(".prof")), stream=text).sort_stats("cumulative").print_stats(60)
        profiles[side] = text.getvalue()
    phases = {p: record["phases"].get(f"timing_s/{p}", []) for p in (*PHASES_VRL, "step")}
    lengths = record["phases"].get("rollout/response_length_mean", [])
    setup_s = record["train_start_unix_s"] - start  # interpreter + imports + model load + trainer
    return _summary(record["wall_s"], record["cpu_s"], phases, lengths, setup_s, total_s)


def run_trl(args, model_dir: str, rows: list[dict[str, Any]], out: Path, profiles: dict[str, str]):
    """N steps of TRL's `GRPOTrainer` with the matched configuration."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    start = time.perf_counter()
    torch.manual_seed(args.seed)
    from vrl.model import TinyQwen25VL
    from vrl.reward.accuracy import accuracy_reward

    loaded = TinyQwen25VL().load(model_dir)
    phases: dict[str, list[float]] = {p: [] for p in PHASES_TRL}

    def timed(name: str, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                phases[name].append(time.perf_counter() - t0)

        return wrapper

    class TimedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer with wall-clock timers around its phases (behaviour unchanged)."""

        def _generate(self, *a, **k):
            return timed("generate", super()._generate)(*a, **k)

        def _calculate_rewards(self, *a, **k):
            return timed("reward", super()._calculate_rewards)(*a, **k)

        def _generate_and_score_completions(self, *a, **k):
            return timed("generate_and_score", super()._generate_and_score_completions)(*a, **k)

        def compute_loss(self, *a, **k):
            return timed("loss_forward", super().compute_loss)(*a, **k)

        def training_step(self, *a, **k):
            return timed("training_step", super().training_step)(*a, **k)

    walls: list[float] = []
    cpus: list[float] = []
    lengths: list[float] = []

    class StepTimer(TrainerCallback):
        last = last_cpu = 0.0

        def on_train_begin(self, *a, **k):
            StepTimer.last, StepTimer.last_cpu = time.perf_counter(), time.process_time()

        def on_pre_optimizer_step(self, *a, **k):
            StepTimer.opt = time.perf_counter()

        def on_optimizer_step(self, *a, **k):
            phases["optimizer"].append(time.perf_counter() - StepTimer.opt)

        def on_step_end(self, *a, **k):
            now, cpu = time.perf_counter(), time.process_time()
            walls.append(now - StepTimer.last)
            cpus.append(cpu - StepTimer.last_cpu)
            StepTimer.last, StepTimer.last_cpu = now, cpu

        def on_log(self, args_, state, control, logs=None, **k):
            if logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    def accuracy(completions, answer, answer_type, choices, **_):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return accuracy_reward(texts, answer, answer_type, choices)

    config = GRPOConfig(
        output_dir=str(out / "trl"),
        per_device_train_batch_size=args.prompts * args.group_size,  # completions per step
        num_generations=args.group_size,
        max_completion_length=args.max_new_tokens,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        beta=0.0,
        epsilon=0.2,
        loss_type="grpo",
        scale_rewards="group",
        num_iterations=1,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        max_steps=args.steps,
        shuffle_dataset=False,  # rows are already in vrl's step order
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,  # TRL's default is True; vrl's tiny model trains without it
        seed=args.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = TimedGRPOTrainer(
        model=loaded.model,
        reward_funcs=[accuracy],
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=loaded.processor,
        callbacks=[StepTimer()],
    )
    setup_s = time.perf_counter() - start
    with maybe_profile(args.profile, profiles, "trl"):
        trainer.train()
    total_s = time.perf_counter() - start
    phases["step"] = walls
    return _summary(walls, cpus, phases, lengths, setup_s, total_s)


def _summary(walls, cpus, phases, lengths, setup_s: float, total_s: float) -> dict[str, Any]:
    steady = walls[1:] or walls
    return {
        "steps": len(walls),
        "setup_s": setup_s,
        "total_s": total_s,
        "first_step_s": walls[0] if walls else float("nan"),
        "median_step_s": statistics.median(steady) if steady else float("nan"),
        "median_step_cpu_s": statistics.median(cpus[1:] or cpus) if cpus else float("nan"),
        "walls_s": walls,
        "cpus_s": cpus,
        "phase_median_s": {k: statistics.median(v[1:] or v) for k, v in phases.items() if v},
        "phase_first_s": {k: v[0] for k, v in phases.items() if v},
        "response_length_mean": statistics.mean(lengths) if lengths else float("nan"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="RL steps per side")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--group-size", type=int, default=4, help="responses per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="response length cap")
    parser.add_argument("--lr", type=float, default=1e-5, help="constant AdamW learning rate")
    parser.add_argument("--micro-batch-size", type=int, default=0, help="vrl micro-batch (0 = P x G)")
    parser.add_argument("--reward-workers", type=int, default=2, help="vrl RewardPool worker processes")
    parser.add_argument("--image-size", type=int, default=56, help="procedural image side, px")
    parser.add_argument(
        "--order", default="vrl,trl,trl,vrl", help="sides to run, in order (ABBA evens out load drift)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads for both sides (0 = torch default)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile each side (slows both)")
    parser.add_argument("--out", type=Path, default=None, help="write results.json (+ profiles) here")
    args = parser.parse_args(argv)
    order = [s.strip() for s in args.order.split(",") if s.strip()]
    if not order or set(order) - {*VRL_SIDES, "trl"}:
        parser.error(f"--order {args.order!r}: use a comma list of {', '.join(VRL_SIDES)}, trl, e.g. vrl,trl")
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    import torch

    if args.threads > 0:
        # One thread: on a shared 2-core machine, OpenMP barriers with a descheduled thread make
        # multi-threaded timings swing by 10x; both sides get the same setting either way (the
        # vrl subprocess through OMP_NUM_THREADS).
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench-rl-") as tmp:
        work = Path(tmp)
        model_dir, train_dir, rows = build_fixture(
            work,
            max(64, args.prompts * (args.steps + 1)),
            args.image_size,
            args.prompts,
            args.steps,
            args.seed,
        )
        profiles: dict[str, str] = {}
        runs: list[tuple[str, dict[str, Any]]] = []
        for side in order:
            print(f"[bench] {side}: {args.steps} steps ...", flush=True)
            if side in VRL_SIDES:
                runs.append((side, run_vrl(args, side, model_dir, train_dir, work, profiles)))
            else:
                runs.append((side, run_trl(args, model_dir, rows, work, profiles)))

    by_side = {side: [r for s, r in runs if s == side] for side in (*VRL_SIDES, "trl")}
    median = {s: statistics.median(r["median_step_s"] for r in rs) for s, rs in by_side.items() if rs}
    cpu = {s: statistics.median(r["median_step_cpu_s"] for r in rs) for s, rs in by_side.items() if rs}
    result = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": _environment(),
        "runs": [{"side": s, **r} for s, r in runs],
        "median_step_s": median,
        "median_step_cpu_s": cpu,
    }
    header = ("side", "setup s", "total s", "step 1 s", "median s", "cpu s", "resp len")
    print("\n" + " ".join(f"{h:>9}" for h in header) + "  phases (median wall s)")
    for side, r in runs:
        phases = " ".join(f"{k}={v:.3f}" for k, v in r["phase_median_s"].items())
        cells = (r["setup_s"], r["total_s"], r["first_step_s"], r["median_step_s"], r["median_step_cpu_s"])
        print(
            f"{side:>9} "
            + " ".join(f"{c:>9.3f}" for c in cells)
            + f" {r['response_length_mean']:>9.1f}  {phases}"
        )
    for side in (s for s in VRL_SIDES if s in median and "trl" in median):
        result[f"ratio_{side}_over_trl"] = median[side] / median["trl"]
        result[f"cpu_ratio_{side}_over_trl"] = cpu[side] / cpu["trl"]
        print(f"ratio {side}/trl (median step, steps 2..N): {result[f'ratio_{side}_over_trl']:.2f}x")
        print(
            f"ratio {side}/trl (median CPU s per step, steps 2..N): {result[f'cpu_ratio_{side}_over_trl']:.2f}x"
        )
    print(f"load: {result['environment']['uptime']}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(result, indent=2))
        for side, text in profiles.items():
            (args.out / f"profile_{side}.txt").write_text(text)
        _plot(runs, args.out / "steps.png")
    return result


def _plot(runs: list[tuple[str, dict[str, Any]]], path: Path) -> None:
    """Per-step wall and CPU seconds of every run (one line per run, in run order)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"vrl": "tab:blue", "vrl_hf": "tab:green", "vrl_overlap": "tab:purple", "trl": "tab:orange"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    for index, (side, r) in enumerate(runs):
        steps = range(1, len(r["walls_s"]) + 1)
        for ax, key in zip(axes, ("walls_s", "cpus_s")):
            ax.plot(steps, r[key], marker="o", ms=3, color=colors[side], label=f"{side} (run {index + 1})")
    for ax, title in zip(axes, ("wall s per RL step", "process CPU s per RL step")):
        ax.set_title(title)
        ax.set_xlabel("RL step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _environment() -> dict[str, Any]:
    import torch
    import transformers

    try:
        import trl

        trl_version = trl.__version__
    except ImportError:
        trl_version = None
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl_version,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "uptime": uptime,
    }


if __name__ == "__main__":
    main()
