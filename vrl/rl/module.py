"""The RL LightningModule: one `training_step` = one RL step, read top to bottom. Steps 2-6
(rollout to advantages) and the reference log-probs are `vrl.rl.scoring.RolloutScoring`, step 9
(the PPO update) is `vrl.rl.update.PolicyUpdate`: mixins on the same module.

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
import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L
import torch

from vrl.algorithm import Algorithm
from vrl.distributed import gather_objects, world
from vrl.policy.images import ImageCache
from vrl.policy.trajectory import Trajectory
from vrl.replay.base import Replay
from vrl.rethink.base import Rethink
from vrl.reward.base import Reward
from vrl.rl.distributed import sum_sharded_gradients
from vrl.rl.overlap import OverlappedRollout
from vrl.rl.scoring import RolloutScoring
from vrl.rl.settings import RLSettings
from vrl.rl.update import PolicyUpdate
from vrl.rollout.base import RolloutEngine
from vrl.trainer import adamw, log_step_metrics, rng_state, seed_rank, set_rng_state

log = logging.getLogger("vrl")


class RLModule(RolloutScoring, PolicyUpdate, L.LightningModule):
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
        self._images = ImageCache()  # processed images, carried across steps (`training_step`)
        self._engine_fresh = True  # the engine holds the weights it started from (before any resume)
        self.last_rollouts: tuple[list[Trajectory], list[Trajectory]] = ([], [])  # this step's, trained on
        self._rng_to_restore: dict[str, Any] | None = None
        self.overlap = None  # max_staleness=1: the rollout worker (started with the fit)
        if settings.max_staleness:
            self.overlap = OverlappedRollout(
                model, processor, engine, settings.group_size, settings.micro_batch_size
            )
        # The engine's prompt encoding, for the prompt loader to run ahead (its worker) where
        # this process rolls out the loader's batches itself; None: the engine encodes (see
        # `vrl.rl.data.RLDataModule`).
        self.prompt_encoding = None if self.overlap is not None else engine.prompt_encoding(processor)

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
        # them (and adds tool images). Kept from earlier steps: those of the trajectories the
        # replay policy holds, which it may select again (a replay without `held` keeps none).
        images = self._images
        held = getattr(self.replay, "held", None)
        images.retain(image for trajectory in (held() if held else ()) for image in trajectory.images)
        if "encoded" in batch:  # the loader ran `self.prompt_encoding` on these samples
            self.prompt_encoding.keep(images, batch["samples"], batch["encoded"])
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
        if self.rl_step >= self.max_steps:
            self.trainer.should_stop = True
        log_step_metrics(self.trainer, metrics)

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
        gc.unfreeze()
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
        # What exists now (model, processor, modules, data) lives through the fit: out of the
        # cyclic collector's reach, whose full passes over it stalled a step ~0.3 s every few
        # dozen steps (experiments/rl_speed). Garbage without cycles is still freed at once.
        gc.freeze()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # A resumed run restores the RNGs here, after Lightning built the loader iterator (which
        # may draw on torch's RNG), so the step draws what the uninterrupted run drew.
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None

    def configure_optimizers(self) -> Any:
        return adamw(
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
