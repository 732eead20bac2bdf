"""Framework overhead of an RL step: the share of a step's time outside the model's own calls.

    OMP_NUM_THREADS=1 PYTHONPATH=. python experiments/rl_speed/overhead.py 'stages=[data,sft,rl]' \
        stage.sft.max_steps=50 stage.rl.max_steps=40 logger.wandb_mode=disabled hydra.run.dir=/tmp/p6_x \
        '+trainer.callbacks=[{_target_: vrl.trainer.StepTimer},{_target_: __main__.ModelTime}]'

Runs `python -m vrl` with the given overrides, timing (wall and this process's CPU) every call of
`generate`, of the policy's forward outside `generate`, of `Tensor.backward`, of gradient-norm
clipping and of the optimizer step ("model time"; a call nested in another is counted once, in
the outer one). `ModelTime`, a callback, writes per training step of each fit the step's wall
and CPU seconds (end of the previous step to end of this one, as `vrl.trainer.StepTimer`) and
the model time in it, to `<stage dir>/model_time.json`; the summary (steps 6..) is printed.

Overhead = step - model time: the processor, padding, tokenizer decode, rewards (their worker
processes' CPU is not this process's, their wall is), sample writing, logging, Lightning.
The top-level imports stay light: the reward pool's forkserver re-imports this module.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

CLOCK: dict[str, list[float]] = {}  # category -> [wall s, cpu s], cumulative
_depth = [0]


def _timed(category: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The trainer's own thread only: the RL step waits on rewards from a thread of its own
        # (while the old-log-prob pass runs), and that wait is neither model time nor overhead.
        if _depth[0] or threading.current_thread() is not threading.main_thread():
            return fn(*args, **kwargs)
        _depth[0] += 1
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _depth[0] -= 1
            total = CLOCK.setdefault(category, [0.0, 0.0])
            total[0] += time.perf_counter() - wall
            total[1] += time.process_time() - cpu

    wrapper.__wrapped__ = fn
    return wrapper


MODEL = ("generate", "forward", "backward", "clip", "optimizer")  # the model's own calls


def install() -> None:
    """Wrap the model's calls (the tiny default's class, Qwen2.5-VL) with the clock, and the
    suspected overheads, each under its own name."""
    import lightning as L
    import torch
    import transformers
    from transformers import Qwen2_5_VLForConditionalGeneration as Policy

    import vrl.policy.images
    import vrl.rl.data
    import vrl.rollout.hf
    from vrl.policy.batch import TrajectoryBatch
    from vrl.reward.pool import RewardPool

    transformers.GenerationMixin.generate = _timed("generate", transformers.GenerationMixin.generate)
    # rollout=fast (the default since 2026-12-07) decodes with its own loop, which calls the
    # decoder's modules directly rather than `model.forward`: the whole loop is its "generate"
    # (as `generate` includes its own sampling and stopping machinery).
    import vrl.rollout.fast

    vrl.rollout.fast.sample_tokens = _timed("generate", vrl.rollout.fast.sample_tokens)
    Policy.forward = _timed("forward", Policy.forward)
    # The vision tower run ahead of the forward, once per distinct image (`vrl.policy.vision`).
    Policy.get_image_features = _timed("forward", Policy.get_image_features)
    # The model's mRoPE positions, which `vrl.policy.shared_prompt` computes outside the forward
    # (once for the full rows, passed to both of its forwards): the stock forward computes them inside.
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

    Qwen2_5_VLModel.get_rope_index = _timed("forward", Qwen2_5_VLModel.get_rope_index)
    # The shared prompt's keys and values handed to each of its responses' rows
    # (`vrl.policy.shared_prompt`): the stock forward computes them inside, once per row.
    from transformers.cache_utils import DynamicLayer

    DynamicLayer.batch_select_indices = _timed("forward", DynamicLayer.batch_select_indices)
    torch.Tensor.backward = _timed("backward", torch.Tensor.backward)
    torch.nn.utils.clip_grad_norm_ = _timed("clip", torch.nn.utils.clip_grad_norm_)
    torch.optim.AdamW.step = _timed("optimizer", torch.optim.AdamW.step)
    # Not the model: the processor (prompts; images of the log-prob passes), padding, rewards,
    # Lightning's logging, the prompt batch.
    vrl.rollout.hf.encode_prompts = _timed("x_encode_prompts", vrl.rollout.hf.encode_prompts)
    vrl.policy.images.processed_images = _timed("x_images", vrl.policy.images.processed_images)
    TrajectoryBatch.from_trajectories = classmethod(
        _timed("x_padding", TrajectoryBatch.from_trajectories.__func__)
    )
    RewardPool.__call__ = _timed("x_reward", RewardPool.__call__)
    L.LightningModule.log_dict = _timed("x_log_dict", L.LightningModule.log_dict)
    import vrl.trainer

    if hasattr(vrl.trainer, "log_step_metrics"):  # the RL step's own logging (since 2026-12-07)
        import vrl.rl.module

        vrl.rl.module.log_step_metrics = _timed("x_log_dict", vrl.trainer.log_step_metrics)
    vrl.rl.data.PromptStream.batch_at = _timed("x_prompts", vrl.rl.data.PromptStream.batch_at)
    # The loss math on the logits (log-softmax, entropy, the PPO objective): compute, not the
    # framework, but outside the model's calls, so named apart.
    import vrl.algorithm
    import vrl.policy.log_probs
    import vrl.rl.samples
    import vrl.rl.update

    vrl.rl.update.token_log_probs = _timed("x_loss_math", vrl.policy.log_probs.token_log_probs)
    vrl.rl.update.policy_objective = _timed("x_loss_math", vrl.algorithm.policy_objective)
    vrl.rl.samples.RolloutSamples.write = _timed("x_samples", vrl.rl.samples.RolloutSamples.write)
    import vrl.replay.ssr

    vrl.replay.ssr.SelectiveSampleReplay.select = _timed(
        "x_replay", vrl.replay.ssr.SelectiveSampleReplay.select
    )
    # Small pieces the profile shows (py-spy, 2026-12-07): mode switches (transformers' `train`
    # re-kernelizes), response decoding, Lightning's batch transfer, the gradient norm, checkpoints.
    from transformers import PreTrainedModel

    import vrl.rl.checkpoint
    import vrl.rl.update

    PreTrainedModel.train = _timed("x_mode", PreTrainedModel.train)
    try:  # flags written per module (since 2026-12-07)
        import vrl.policy.mode

        vrl.policy.mode.set_training = _timed("x_mode", vrl.policy.mode.set_training)
        vrl.rl.update.set_training = vrl.policy.mode.set_training
    except ImportError:
        pass
    vrl.rollout.hf._decoder = _decoder_timed(vrl.rollout.hf._decoder)
    L.LightningModule._apply_batch_transfer_handler = _timed(
        "x_transfer", L.LightningModule._apply_batch_transfer_handler
    )
    if hasattr(vrl.rl.update, "_grad_norm"):  # the logged norm, apart from the clip's (until 2026-12-07)
        vrl.rl.update._grad_norm = _timed("x_grad_norm", vrl.rl.update._grad_norm)
    else:  # one norm for the log and the clip: the clip's own norm (clipping is on by default)
        vrl.rl.update._total_norm = _timed("clip", vrl.rl.update._total_norm)
        torch.nn.utils.clip_grads_with_norm_ = _timed("clip", torch.nn.utils.clip_grads_with_norm_)
    # The prompt batch as Lightning's loop takes it from the loader (read there with
    # `stage.rl.num_workers=0`; with a worker: waiting for it and unpickling it).
    from lightning.pytorch.loops.fetchers import _PrefetchDataFetcher

    _PrefetchDataFetcher.__next__ = _timed("x_fetch", _PrefetchDataFetcher.__next__)
    vrl.rl.checkpoint.RLCheckpoint._save = _timed("x_checkpoint", vrl.rl.checkpoint.RLCheckpoint._save)
    _time_gc()
    # Pieces of the rest ("other"), each a leaf (no model call inside).
    import vrl.rl.module
    import vrl.rl.samples
    import vrl.rl.scoring

    vrl.rl.samples.RolloutSamples.on_train_batch_end = _timed(
        "x_callbacks", vrl.rl.samples.RolloutSamples.on_train_batch_end
    )
    import vrl.progress

    bar = vrl.progress.StageProgressBar
    bar.on_train_batch_end = _timed("x_callbacks", bar.on_train_batch_end)
    vrl.rl.scoring.gather_trajectories = _timed("x_bookkeeping", vrl.rl.scoring.gather_trajectories)
    vrl.rl.scoring.reward_inputs = _timed("x_bookkeeping", vrl.rl.scoring.reward_inputs)
    scoring = vrl.rl.scoring.RolloutScoring
    scoring._rollout_metrics = staticmethod(_timed("x_bookkeeping", scoring._rollout_metrics))
    scoring._engine_mismatch = _timed("x_bookkeeping", scoring._engine_mismatch)
    vrl.rollout.hf.decode_texts = _timed("x_decode", vrl.rollout.hf.decode_texts)


def _time_gc() -> None:
    """Python's cyclic garbage collector, wherever it strikes (its pauses land on whatever line
    allocates): `x_gc`, wall and CPU, and counted out of any category it interrupts."""
    import gc

    started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            started[:] = [time.perf_counter(), time.process_time()]
        elif started:
            total = CLOCK.setdefault("x_gc", [0.0, 0.0])
            total[0] += time.perf_counter() - started[0]
            total[1] += time.process_time() - started[1]

    gc.callbacks.append(on_gc)


def _decoder_timed(make: Any) -> Any:
    def wrapped(processor: Any) -> Any:
        return _timed("x_decode", make(processor))

    return wrapped


class ModelTime:
    """Lightning callback (built lazily so this module imports without lightning): see the module doc."""

    def __new__(cls) -> Any:
        import lightning as L

        class _ModelTime(L.Callback):
            def on_train_start(self, trainer: Any, module: Any) -> None:
                self.steps: list[dict[str, float]] = []
                self._mark = self._now()

            @staticmethod
            def _now() -> dict[str, float]:
                now = {"wall": time.perf_counter(), "cpu": time.process_time()}
                for name, (wall, cpu) in CLOCK.items():
                    now[f"{name}_wall"], now[f"{name}_cpu"] = wall, cpu
                return now

            def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
                now = self._now()
                self.steps.append({k: v - self._mark.get(k, 0.0) for k, v in now.items()})
                self._mark = now

            def on_train_end(self, trainer: Any, module: Any) -> None:
                import json
                from pathlib import Path

                path = Path(trainer.default_root_dir) / "model_time.json"
                path.write_text(json.dumps(self.steps, indent=1))
                print(summary(self.steps[5:]), file=sys.stderr)

        return _ModelTime()


def summary(steps: list[dict[str, float]]) -> str:
    """Mean ms per step of each category and the overhead share, wall and CPU."""
    if not steps:
        return "no steps"
    keys = sorted({k for s in steps for k in s})
    mean = {k: 1000 * sum(s.get(k, 0.0) for s in steps) / len(steps) for k in keys}
    lines = [f"{len(steps)} steps, mean ms per step:"]
    for kind in ("wall", "cpu"):
        of_kind = {k[: -len(kind) - 1]: v for k, v in mean.items() if k.endswith(f"_{kind}")}
        model = sum(v for k, v in of_kind.items() if k in MODEL)
        parts = ", ".join(f"{k} {v:.0f}" for k, v in of_kind.items() if k in MODEL)
        named = ", ".join(f"{k[2:]} {v:.0f}" for k, v in of_kind.items() if k not in MODEL)
        rest = mean[kind] - sum(of_kind.values())
        share = 1 - model / mean[kind]
        lines.append(
            f"  {kind}: step {mean[kind]:.0f}, model {model:.0f} ({parts}), outside {share:.1%}: "
            f"{named}, other {rest:.0f}"
        )
    # Means move with one slow step (a reward verifier stuck on a garbled response for 0.6 s):
    # the median step's share beside them.
    shares = sorted(1 - sum(s.get(f"{k}_wall", 0.0) for k in MODEL) / s["wall"] for s in steps)
    lines.append(f"  median step's share outside the model (wall): {shares[len(shares) // 2]:.1%}")
    return "\n".join(lines)


if __name__ == "__main__":
    install()
    from vrl.__main__ import main

    main()
