"""Steps 2-6 of the RL step (`vrl.rl.module`): rollout -> rethink -> reward -> old log-probs ->
advantages for one prompt batch, each rank on its share, and the batch's rollout metrics; the
reference policy's log-probs (step 5's KL in the reward, step 8's KL in the loss).

`RolloutScoring` is a mixin of `RLModule`: it reads the module's policy and components
(`model`, `processor`, `reference`, `engine`, `reward`, `algorithm`, `replay`, `rethink`,
`overlap`, `group_size`, `micro_batch_size`, `temperature`), its progress (`rl_step`,
`groups_seen`, `data_position`) and its step timer `_timed`, all set by `RLModule.__init__`.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

from vrl.algorithm import kl_reward_penalty, rollout_mismatch
from vrl.distributed import gather_objects, shard_bounds, world
from vrl.policy.batch import right_pad
from vrl.policy.images import ImageCache
from vrl.policy.log_probs import response_log_probs
from vrl.policy.trajectory import Trajectory, reward_inputs
from vrl.rl.distributed import gather_trajectories, weighted_means
from vrl.rollout.base import adopt_engine_log_probs
from vrl.rollout.full_weights import full_weights


class RolloutScoring:
    """Steps 2-6 of `RLModule.training_step` (see the module docstring for the attributes used)."""

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
        #    rollout; rethought ones, whose trigger was not sampled); the `fast` engine's own
        #    log-probs where it reported them (the same numbers, no forward); the KL-in-reward
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
        """Old log-probs for every trajectory without them: the engine's own where they are the
        trainer's (`reports_policy_log_probs`: no forward), else one log-prob pass."""
        missing = adopt_engine_log_probs(self.engine, trajectories)
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
        if self.engine.reports_policy_log_probs or not any(
            t.sampling_log_probs is not None for t in trajectories
        ):
            return {}  # none, or the very numbers the old log-probs were taken from
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
            right_pad([r[0] for r in rows], width),
            right_pad([r[1] for r in rows], width),
            right_pad([r[2] for r in rows], width),
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
        old = right_pad([t.old_log_probs for t in trajectories], width)
        mask = right_pad([t.loss_mask for t in trajectories], width)
        kl = self.algorithm.kl(old, right_pad(ref, width))
        return kl_reward_penalty(rewards, kl, mask, self.algorithm.kl_coef)

    @staticmethod
    def _rollout_metrics(
        trajectories: list[Trajectory], rewards: torch.Tensor, valid: list[bool]
    ) -> dict[str, float]:
        lengths = [len(t.response_ids) for t in trajectories]
        return {
            "rollout/response_length_mean": sum(lengths) / len(lengths),
            "rollout/response_length_max": float(max(lengths)),
            "rollout/finished_frac": sum(t.finished for t in trajectories) / len(trajectories),
            "rollout/forced_frac": sum(t.forced for t in trajectories) / len(trajectories),
            "rollout/reward_mean": float(rewards.mean()),
            "rollout/reward_std": float(rewards.std()) if len(rewards) > 1 else 0.0,
            "rollout/reward_valid_frac": sum(valid) / len(valid),
        }
