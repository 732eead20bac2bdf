"""The RL LightningModule: one `training_step` = one RL step, read top to bottom.

Simplifications, stated:
- The engine is told about training through two calls: `engine.sleep()` once the step's
  rollouts are scored (vLLM frees its GPU memory for the update; a no-op for `hf`, which samples
  from this very module) and `engine.sync_weights(model)` after the update (vLLM loads the new
  weights; `hf` has nothing to copy). A resumed run syncs before its first rollout, since the
  engine starts from the pre-RL checkpoint directory.
- Rethinking runs right after the rollout, before rewards (the `Rethink` contract: it
  rewrites fresh responses, which are then scored like any other).
- Mini-batches are taken in order (no reshuffle between PPO epochs).
- Dynamic sampling (`FilterReplay.needs_more`) rolls out the next prompt batches of the
  stream inside the step; the Trainer later skips those batches (their positions are spent).
- The gradient norm logged is the global one after the ranks' gradients are summed (a
  shard's under FSDP).
- The engine-vs-trainer log-prob check (`rollout/logprob_diff_*`, `rollout/prob_diff_*`; only
  engines that report their own log-probs, vLLM) covers the step's fresh responses when step 5
  runs, and the selected ones when it is skipped (their old log-probs come from the update).
- Several ranks (DDP or FSDP2): `vrl.rl.distributed` (prompts split by group, trajectories
  gathered, one replicated replay store, gradients summed once per optimizer step, global
  metrics; under FSDP2 the hf rollout runs on full weights gathered once, `vrl.rollout.full_weights`).
- `max_staleness=1`: a rollout worker process samples the next step's batch during the update
  and returns the behaviour log-probs (`vrl.rl.overlap`); step 2 takes that batch, step 5 then
  has nothing to fill.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import lightning as L
import torch
from torch.distributed.fsdp import FSDPModule

from vrl.algorithm import Algorithm, kl_reward_penalty, nll_selection, policy_objective, rollout_mismatch
from vrl.distributed import gather_objects, shard_bounds, world
from vrl.policy.images import ImageCache
from vrl.policy.log_probs import policy_inputs, response_log_probs, response_logits, token_log_probs
from vrl.policy.trajectory import Trajectory, reward_inputs
from vrl.replay.base import Replay
from vrl.rethink.base import Rethink
from vrl.reward.base import Reward
from vrl.rl.distributed import (
    all_reduce_gradients,
    disable_ddp_gradient_sync,
    gather_trajectories,
    micro_batches,
    sum_sharded_gradients,
    summed,
    weighted_means,
)
from vrl.rl.overlap import OverlappedRollout
from vrl.rl.settings import RLSettings
from vrl.rollout.base import RolloutEngine
from vrl.rollout.full_weights import full_weights
from vrl.trainer import rng_state, seed_rank, set_rng_state

log = logging.getLogger("vrl")


class RLModule(L.LightningModule):
    """Policy optimisation of a VLM from verifiable rewards.

    Args:
        model: the policy (a transformers VLM); a frozen copy is the reference when
            `algorithm.needs_reference`.
        processor: its processor.
        engine: the rollout engine; it samples with its own `sampling` (`rollout.sampling`),
            whose temperature also scales the logits of every log-prob the loss uses.
        reward: a `vrl.reward.base.Reward` (the `RewardPool`).
        algorithm: `vrl.algorithm.Algorithm`.
        replay: a `vrl.replay` policy.
        rethink: a `vrl.rethink` policy (`NoRethink` for none).
        settings: the stage's `RLSettings` (group size, steps, optimizer, micro-batch size).
    """

    automatic_optimization = False

    def __init__(
        self,
        model: Any,
        processor: Any,
        engine: RolloutEngine,
        reward: Reward,
        algorithm: Algorithm,
        replay: Replay,
        rethink: Rethink,
        settings: RLSettings,
    ) -> None:
        super().__init__()
        self.model = model
        self.processor = processor
        self.engine, self.reward, self.algorithm = engine, reward, algorithm
        self.replay, self.rethink = replay, rethink
        self.settings = settings
        self.group_size, self.max_steps = settings.group_size, settings.max_steps
        self.micro_batch_size = settings.micro_batch_size
        self.temperature = engine.sampling.temperature
        self.reference = None
        if algorithm.needs_reference:
            self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        # Progress, checkpointed: RL steps done, groups handed out, prompt batches consumed.
        self.rl_step = 0
        self.groups_seen = 0
        self.data_position = 0
        self._timings: dict[str, float] = {}
        self._engine_fresh = True  # the engine holds the weights it started from (before any resume)
        self.last_rollouts: tuple[list[Trajectory], list[Trajectory]] = ([], [])  # this step's, trained on
        self._rng_to_restore: dict[str, Any] | None = None
        self.overlap = None  # max_staleness=1: the rollout worker (started with the fit)
        if settings.max_staleness:
            self.overlap = OverlappedRollout(
                model, processor, engine, settings.group_size, settings.micro_batch_size
            )

    # -- the RL step --------------------------------------------------------------------------

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if self.rl_step >= self.max_steps:
            self.trainer.should_stop = True
            return
        if int(batch["position"]) < self.data_position:
            return  # a prompt batch an earlier step already used to refill (dynamic sampling)
        self._timings = {}
        step_start = time.perf_counter()

        # 1. Prompts: one batch of samples from the train_data product.
        self.data_position = int(batch["position"]) + 1

        # 2.-6. Rollout -> rethink -> reward -> old log-probs -> advantages.
        if self._engine_fresh and self.rl_step > 0:
            with self._timed("sync"):  # resumed: the engine started from pre-RL weights
                self.engine.sync_weights(self.model)
        self._engine_fresh = False
        # The step's processed images: the rollout adds the prompts', every log-prob pass reuses
        # them (and adds tool and replayed images). A new cache per step: nothing outlives it.
        images = ImageCache()
        trajectories, stats = self._rollout_and_score(batch["samples"], images)

        # 7. Replay: which trajectories this step trains on (may include older ones); a policy
        #    that filters (dynamic sampling) may ask for more prompt batches first.
        selected = self.replay.select(trajectories, self.rl_step)
        rounds = [stats]
        while self.replay.needs_more(len(selected)):
            more, more_stats = self._rollout_and_score(
                self.trainer.datamodule.prompts_at(self.data_position), images
            )
            self.data_position += 1
            trajectories, rounds = trajectories + more, rounds + [more_stats]
            selected += self.replay.select(more, self.rl_step)
        if self.replay.target_size:
            selected = selected[: self.replay.target_size]
        if self.overlap is not None and self.rl_step + 1 < self.max_steps:
            # Overlap: the worker samples the next batch with the weights before this update.
            with self._timed("prefetch"):
                self.overlap.prefetch(
                    self.rl_step + 1,
                    self.data_position,
                    self.trainer.datamodule.prompts_at(self.data_position),
                    self.groups_seen,
                    self.model,
                    version=self.rl_step,
                )
        self.engine.sleep()  # sampling is over for this step: give the engine's memory to training

        # 8. Reference log-probs (KL-in-loss only), for the selected batch.
        ref_log_probs: list[list[float]] | None = None
        if selected and self.algorithm.kl_in_loss:
            with self._timed("ref_logprob"):
                ref_log_probs = self._reference_log_probs(selected, images)

        # 9. PPO epochs over mini-batches, micro-batches accumulated; clip; optimizer step.
        train_metrics: dict[str, float] = {}
        with self._timed("update"):
            if selected:
                train_metrics = self._update(selected, ref_log_probs, images)

        # Rollout correctness: the engine's own log-probs (vLLM) against the trainer's old ones,
        # once both exist (after step 5's pass, else after the update's forward filled them).
        mismatch = self._engine_mismatch(trajectories if self._needs_old_log_probs_now else selected)

        # 10. Weight sync: the next rollout samples from the updated policy.
        with self._timed("sync"):
            if selected:
                self.engine.sync_weights(self.model)

        # 11. Log (the step's rows for `vrl.rl.samples.RolloutSamples`: fresh and replayed).
        self.last_rollouts = (trajectories, selected)
        self.rl_step += 1
        seconds = time.perf_counter() - step_start
        metrics = {
            **{key: sum(r.get(key, 0.0) for r in rounds) / len(rounds) for key in rounds[-1]},
            **{k: float(v) for k, v in self.replay.stats.items()},
            **train_metrics,
            **mismatch,
            **{f"timing_s/{name}": value for name, value in self._timings.items()},
            "timing_s/step": seconds,
            "perf/tokens_per_s": sum(len(t.prompt_ids) + len(t.response_ids) for t in trajectories) / seconds,
            "rollout/responses": float(len(trajectories)),
            "train/rl_step": float(self.rl_step),
        }
        self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=len(trajectories))
        if self.rl_step >= self.max_steps:
            self.trainer.should_stop = True

    def _rollout_and_score(
        self, samples: list[Any], images: ImageCache
    ) -> tuple[list[Trajectory], dict[str, float]]:
        """Steps 2-6 for one prompt batch (every rank passes the whole batch and works on its
        share): the batch's scored trajectories from every rank (reward, advantage, old log-probs
        set), in prompt order, and their `rollout/`, `reward/`, `rethink/` metrics."""
        here = world()
        start, stop = shard_bounds(len(samples), here.rank, here.size)
        first_group_id = self.groups_seen
        self.groups_seen += len(samples)
        trajectories, valid, stats = [], [], {}
        with self._rollout_weights():  # FSDP2 + hf: gathered once, the share runs no collective
            if stop > start:
                trajectories, valid, stats = self._score_share(
                    samples[start:stop], first_group_id + start, images
                )
        with self._timed("gather"):
            trajectories, extras = gather_trajectories(trajectories, samples, first_group_id, (valid, stats))
        valid = [v for rank_valid, _ in extras for v in rank_valid]
        rewards = torch.tensor([t.reward for t in trajectories], dtype=torch.float32)
        return trajectories, {
            **self._rollout_metrics(trajectories, rewards, valid),
            **weighted_means((rank_stats, len(rank_valid)) for rank_valid, rank_stats in extras),
        }

    def _score_share(
        self, samples: list[Any], first_group_id: int, images: ImageCache
    ) -> tuple[list[Trajectory], list[bool], dict[str, float]]:
        """Steps 2-6 on this rank's prompts: trajectories, whether each reward was valid, and the
        reward/rethink/tool statistics of these responses."""
        # 2. Rollout: n responses per prompt, with token ids. Overlapped: the batch the worker
        #    sampled during the last update, with its behaviour log-probs (the wait is timed).
        overlap_stats: dict[str, float] = {}
        with self._timed("rollout"):
            if self.overlap is not None:
                trajectories, overlap_stats = self.overlap.take(
                    self.rl_step, self.data_position - 1, samples, first_group_id, self.model, self.rl_step
                )
            else:
                trajectories = self.engine.rollout(
                    self.model,
                    self.processor,
                    samples,
                    self.group_size,
                    step=self.rl_step,
                    first_group_id=first_group_id,
                    image_cache=images,
                )

        # 3. Rethinking (optional): some responses replaced by forced continuations, in place.
        rethink_stats: dict[str, float] = {}
        if self.rethink.active:
            with self._timed("rethink"):
                continue_fn = self.engine.continue_fn(self.model, self.processor)
                trajectories, rethink_stats = self.rethink.augment(trajectories, continue_fn)

        # 4. Rewards: the pool's weighted sum per response.
        with self._timed("reward"):
            completions, fields = reward_inputs(trajectories)
            scored = self.reward(completions, **fields)
        rewards = torch.tensor(scored.total, dtype=torch.float32)

        # 5. Old log-probs: the sampling policy's (this model before the update, eval mode,
        #    temperature-scaled), for every response that has none yet (all of a fresh `hf`
        #    rollout; rethought ones, whose trigger was not sampled); the KL-in-reward
        #    penalty if the algorithm asks for it. Strictly on-policy steps (one PPO epoch, one
        #    mini-batch) skip the pass: the update's own forward, detached, is the same
        #    numbers (TRL does the same; experiments/rl_speed).
        with self._timed("old_logprob"):
            if self._needs_old_log_probs_now:
                self._fill_old_log_probs(trajectories, images)
            if self.algorithm.kl_in_reward:
                rewards = self._kl_penalised(trajectories, rewards, images)

        # 6. Advantages, per group (groups are contiguous: samples-major rollout).
        advantages = self.algorithm.advantage(rewards, self.group_size)
        for i, (trajectory, reward, advantage) in enumerate(
            zip(trajectories, rewards.tolist(), advantages.tolist())
        ):
            trajectory.reward, trajectory.advantage = reward, advantage
            trajectory.reward_parts = {name: values[i] for name, values in scored.rewards.items()}

        return (
            trajectories,
            list(scored.valid),
            {
                **{k: float(v) for k, v in scored.stats.items()},
                **rethink_stats,
                **self.engine.last_stats,  # tool/... of a multi-turn rollout
                **overlap_stats,
            },
        )

    # -- pieces of the step ---------------------------------------------------------------------

    def _rollout_weights(self) -> Any:
        """The block steps 2-5 run in: for an engine that samples from this module (`hf`), its
        full weights (and the reference's, for KL in the reward) gathered once under FSDP2, so
        that no rank's generate or log-prob pass runs a collective (`vrl.rollout.full_weights`;
        each rank holds the whole model for the rollout). A plain model, or a vLLM engine with
        its own weights, runs as is."""
        if not self.engine.samples_from_policy:
            return nullcontext()
        return full_weights(self.model, self.reference if self.algorithm.kl_in_reward else None)

    @property
    def _needs_old_log_probs_now(self) -> bool:
        """False when the update is the first and only one on these responses (ratio = 1 exactly)."""
        return (
            self.algorithm.ppo_epochs > 1
            or self.algorithm.mini_batch_size is not None
            or self.algorithm.kl_in_reward
            or self.replay.keeps_old_samples
        )

    def _fill_old_log_probs(self, trajectories: list[Trajectory], images: ImageCache) -> None:
        missing = [t for t in trajectories if t.old_log_probs is None]
        if missing:
            values = response_log_probs(
                self.model, self.processor, missing, self.temperature, self.micro_batch_size, images
            )
            for trajectory, row in zip(missing, values):
                trajectory.old_log_probs = row

    def _engine_mismatch(self, trajectories: list[Trajectory]) -> dict[str, float]:
        """`rollout/logprob_diff_{mean,max}`, `rollout/prob_diff_{mean,max,std}` over the policy
        tokens of the trajectories that carry both the engine's and the trainer's log-probs
        (`vrl.algorithm.rollout_mismatch`); empty when none does (the hf engine reports none).

        Every rank holds every trajectory (gathered). Step 5 fills the old log-probs on all of
        them; when it is skipped, the update fills each rank's share only, so the shares are
        gathered first (every rank calls: the trajectories, hence the condition, are the same)."""
        if not any(t.sampling_log_probs is not None for t in trajectories):
            return {}
        rows = [
            (t.sampling_log_probs, t.old_log_probs, t.loss_mask)
            for t in trajectories
            if t.sampling_log_probs is not None and t.old_log_probs is not None
        ]
        if not self._needs_old_log_probs_now and world().size > 1:
            rows = [row for part in gather_objects(rows) for row in part]
        if not rows:
            return {}
        width = max(len(mask) for _, _, mask in rows)
        stats = rollout_mismatch(
            _padded([r[0] for r in rows], width),
            _padded([r[1] for r in rows], width),
            _padded([r[2] for r in rows], width),
        )
        return {f"rollout/{name}": float(value) for name, value in stats.items()}

    def _reference_log_probs(self, trajectories: list[Trajectory], images: ImageCache) -> list[list[float]]:
        return response_log_probs(
            self.reference, self.processor, trajectories, self.temperature, self.micro_batch_size, images
        )

    def _kl_penalised(
        self, trajectories: list[Trajectory], rewards: torch.Tensor, images: ImageCache
    ) -> torch.Tensor:
        ref = self._reference_log_probs(trajectories, images)
        width = max(len(t.response_ids) for t in trajectories)
        old = _padded([t.old_log_probs for t in trajectories], width)
        mask = _padded([t.loss_mask for t in trajectories], width)
        kl = self.algorithm.kl(old, _padded(ref, width))
        return kl_reward_penalty(rewards, kl, mask, self.algorithm.kl_coef)

    def _update(
        self, selected: list[Trajectory], ref_log_probs: list[list[float]] | None, images: ImageCache
    ) -> dict[str, float]:
        """`ppo_epochs` passes; one optimizer step per mini-batch. Returns mean `train/...` metrics."""
        optimizer = self.optimizers()
        mini_size = self.algorithm.mini_batch_size or len(selected)
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        updates = 0
        here = world()
        sharded = isinstance(self.model, FSDPModule) and here.size > 1
        if here.size > 1:
            # DDP would average each backward's gradients; they are summed once per optimizer
            # step below instead. Set on every update: Lightning re-arms DDP's flag after a step.
            disable_ddp_gradient_sync(self.trainer.strategy)
        self.model.train()
        for _ in range(self.algorithm.ppo_epochs):
            for start in range(0, len(selected), mini_size):
                mini = list(range(start, min(start + mini_size, len(selected))))
                trajectories = [selected[i] for i in mini]
                nll_rows = self._nll_rows(trajectories)
                totals = {
                    "global_token_count": sum(sum(t.loss_mask) for t in trajectories),
                    "global_seq_count": len(trajectories),
                    "global_nll_token_count": sum(
                        sum(t.loss_mask) for t, keep in zip(trajectories, nll_rows.tolist()) if keep
                    ),
                }
                # This rank's share of the mini-batch; the loss is divided by the global totals.
                # Under FSDP2 every rank runs as many micro-batches as rank 0 (None: padding).
                for bounds in micro_batches(len(mini), here.rank, here.size, self.micro_batch_size, sharded):
                    lo, hi = bounds or (0, 1)  # padding: the mini-batch's first row, weight 0
                    micro = [selected[i] for i in mini[lo:hi]]
                    refs = [ref_log_probs[i] for i in mini[lo:hi]] if ref_log_probs is not None else None
                    if bounds is None:  # a copy: the padding forward must not fill its old log-probs
                        micro = [dataclasses.replace(micro[0])]
                    loss, metrics = self._micro_batch_loss(micro, refs, nll_rows[lo:hi], totals, images)
                    self.manual_backward(loss if bounds else loss * 0.0)
                    if bounds is None:
                        continue
                    for key, value in metrics.items():
                        sums[key] += float(value)
                        counts[key] += 1
                with self._timed("grad_sync"):
                    all_reduce_gradients(self.model.parameters())  # sum over ranks: the global gradient
                sums["grad_norm"] += _grad_norm(self.model)
                # Every rank adds the same global norm once; sums and counts are summed over ranks below.
                counts["grad_norm"] += 1
                if self.settings.gradient_clip_val:
                    self.clip_gradients(
                        optimizer,
                        gradient_clip_val=self.settings.gradient_clip_val,
                        gradient_clip_algorithm="norm",
                    )
                optimizer.step()
                optimizer.zero_grad()
                updates += 1
        if here.size > 1:  # every rank's micro-batches: sums and counts over the ranks
            parts = gather_objects((dict(sums), dict(counts)))
            sums, counts = summed(p[0] for p in parts), summed(p[1] for p in parts)
        out = {f"train/{key}": sums[key] / counts[key] for key in sums}
        # The loss terms are per micro-batch shares of the mini-batch loss: report their sum per update.
        for key in ("loss", "pg_loss", "kl", "entropy", "aux_nll"):
            if f"train/{key}" in out:
                out[f"train/{key}"] = sums[key] / updates
        out["train/updates"] = float(updates)
        out["train/batch_size"] = float(len(selected))
        out["train/lr"] = float(optimizer.param_groups[0]["lr"])
        return out

    def _micro_batch_loss(
        self,
        trajectories: list[Trajectory],
        ref_log_probs: list[list[float]] | None,
        nll_rows: torch.Tensor,
        totals: dict[str, int],
        images: ImageCache,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # On-policy responses without old log-probs (step 5 skipped them) take this forward's,
        # detached, and keep them: SSR may replay them at a later step as off-policy samples.
        fresh = [t.old_log_probs is None for t in trajectories]
        for trajectory, missing in zip(trajectories, fresh):
            if missing:
                trajectory.old_log_probs = [0.0] * len(trajectory.response_ids)
        batch, inputs = policy_inputs(self.model, self.processor, trajectories, images)
        logits = response_logits(self.model, inputs, batch)
        log_probs, entropy = token_log_probs(logits, batch.response_ids, self.temperature, with_entropy=True)
        old_log_probs = batch.old_log_probs.to(log_probs.device)
        if any(fresh):
            rows = torch.tensor(fresh, device=log_probs.device)
            old_log_probs[rows] = log_probs.detach()[rows]
            for row, (trajectory, missing) in enumerate(zip(trajectories, fresh)):
                if missing:
                    trajectory.old_log_probs = old_log_probs[row, : len(trajectory.response_ids)].tolist()
        if self.algorithm.entropy_coef == 0:
            entropy = entropy.detach()
        device = log_probs.device
        width = log_probs.shape[1]
        ref = _padded(ref_log_probs, width).to(device) if ref_log_probs is not None else None
        return policy_objective(
            self.algorithm,
            log_probs,
            old_log_probs,
            batch.advantages.to(device),
            batch.loss_mask.to(device),
            ref_log_probs=ref,
            entropy=entropy,
            nll_rows=nll_rows.to(device) if self.algorithm.aux_nll_coef > 0 else None,
            **totals,
        )

    def _nll_rows(self, trajectories: list[Trajectory]) -> torch.Tensor:
        advantages = torch.tensor([t.advantage or 0.0 for t in trajectories])
        if self.algorithm.aux_nll_coef <= 0:
            return torch.zeros(len(trajectories), dtype=torch.bool)
        return nll_selection([t.text for t in trajectories], advantages, self.algorithm.aux_nll_cues)

    @staticmethod
    def _rollout_metrics(
        trajectories: list[Trajectory], rewards: torch.Tensor, valid: list[bool]
    ) -> dict[str, float]:
        lengths = torch.tensor([len(t.response_ids) for t in trajectories], dtype=torch.float32)
        return {
            "rollout/response_length_mean": float(lengths.mean()),
            "rollout/response_length_max": float(lengths.max()),
            "rollout/finished_frac": sum(t.finished for t in trajectories) / len(trajectories),
            "rollout/forced_frac": sum(t.forced for t in trajectories) / len(trajectories),
            "rollout/reward_mean": float(rewards.mean()),
            "rollout/reward_std": float(rewards.std()) if len(rewards) > 1 else 0.0,
            "rollout/reward_valid_frac": sum(valid) / len(valid),
        }

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._timings[name] = self._timings.get(name, 0.0) + time.perf_counter() - start

    # -- optimizer and checkpoints ---------------------------------------------------------------

    def on_fit_start(self) -> None:
        # Reward workers start here, not inside step 1, so step timings measure steps (the run
        # loop owns the pool and closes it).
        self.reward.start()
        if self.overlap is not None:
            self.overlap.start(seed=getattr(self.trainer.datamodule, "seed", 0))

    def teardown(self, stage: str) -> None:
        if self.overlap is not None:
            self.overlap.close()

    def configure_model(self) -> None:
        shard_model = getattr(self.trainer.strategy, "shard", None)  # vrl.trainer.FSDP2Strategy
        if shard_model is None:
            return
        here = world()
        if (
            here.size > 1
            and not self.engine.samples_from_policy
            and self.settings.prompts_per_step % here.size
        ):
            from vrl.errors import ConfigError

            # Step 5's forwards on each rank's share (old log-probs, KL in the reward) gather
            # FSDP2 units one at a time: the ranks must run as many (vrl.rl.distributed).
            raise ConfigError(
                f"stage.rl.prompts_per_step={self.settings.prompts_per_step} must be a multiple of "
                f"the {here.size} ranks under trainer.strategy=fsdp2 with a {type(self.engine).__name__}"
            )
        shard_model(self.model)
        sum_sharded_gradients(self.model)  # the loss is divided by global counts: sum, not mean
        if self.reference is not None:
            shard_model(self.reference)

    def on_train_start(self) -> None:
        seed_rank(torch.initial_seed(), world().rank)  # each rank samples its own responses

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # A resumed run restores the RNGs here, after Lightning built the loader iterator (which
        # may draw on torch's RNG), so the step draws what the uninterrupted run drew.
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=self.settings.lr,
            weight_decay=self.settings.weight_decay,
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["vrl_rl"] = {
            "rl_step": self.rl_step,
            "groups_seen": self.groups_seen,
            "data_position": self.data_position,
            "replay": self.replay.state_dict(),  # one global store: the same on every rank
            "rethink": self.rethink.state_dict(),
            "rng": gather_objects(rng_state()),  # one per rank (a collective: every rank saves)
        }
        if self.overlap is not None:  # the next step's batch, sampled before this checkpoint's update
            checkpoint["vrl_rl"]["in_flight"] = self.overlap.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["vrl_rl"]
        self.rl_step = int(state["rl_step"])
        self.groups_seen = int(state["groups_seen"])
        self.data_position = int(state["data_position"])
        self.replay.load_state_dict(state["replay"])
        if state["rethink"]:
            self.rethink.load_state_dict(state["rethink"])
        if self.overlap is not None:
            self.overlap.load_state_dict(state.get("in_flight"))
        states = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
        here = world()
        if len(states) == here.size:
            self._rng_to_restore = states[here.rank]
        else:
            log.warning(
                "checkpoint has RNG states of %d ranks, this run has %d: sampling continues on fresh streams",
                len(states),
                here.size,
            )


def _padded(rows: list[list[float]] | list[list[int]], width: int) -> torch.Tensor:
    """Right-pad ragged rows with 0 to `[B, width]` float32."""
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row[:width], dtype=torch.float32)
    return out


def _grad_norm(model: Any) -> float:
    norms = [p.grad.detach().float().norm() for p in model.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0
