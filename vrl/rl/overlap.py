"""Overlapped rollout and update (`stage.rl.max_staleness=1`): one-step off-policy RL.

While the trainer updates on step k's batch, a rollout worker process
(`vrl.rollout.worker.RolloutWorker`) samples step k + 1's prompts with the weights the policy
had before that update (verl's and AReaL's one-step-off async trainers do the same):

    step k:  take batch k (sampled with weights k-1) -> reward, advantages, replay on batch k
             -> publish weights k, submit prompts k+1 -> PPO update on batch k (the worker
             samples meanwhile)

So batch k is one update stale (step 0's is not: nothing ran before it). The worker returns
the behaviour policy's log-probs with the responses; they are the trajectories' `old_log_probs`,
the denominator of the PPO ratio: the importance correction of the stale samples (with a
single update per step the ratio is no longer 1 at the first micro-batch).

Exact resume: the sampled batch is a pure function of (prompts, behaviour weights, seed), and
the seed of step k is `(seed, k)`'s, so it does not depend on the process that sampled it. A
checkpoint after step k drains the in-flight batch k + 1 and stores it (`state_dict`): the
resumed run trains on the very batch the uninterrupted one did, then goes on as it would have.

Simplifications, stated: one worker, one batch in flight (staleness 1 at most); the reward,
advantages and replay run in the trainer before the next batch is submitted (their wall time
is on the critical path: submitting right after the take would hide it too); the
hf or fast engine without a tool loop, no rethinking, no dynamic sampling, a single trainer process on
CPU (`check_overlap` refuses the rest before any work starts).
"""

from __future__ import annotations

from typing import Any

from vrl.data.schema import Sample
from vrl.errors import ConfigError
from vrl.policy.trajectory import Trajectory
from vrl.rollout.worker import RolloutRequest, RolloutResult, RolloutWorker

# Seeds of different steps must not collide, nor repeat the run's own seed's stream.
_SEED_STRIDE = 1_000_003


def check_overlap(max_staleness: int, rollout: Any, trainer: Any, replay: Any, rethink: Any) -> None:
    """One `ConfigError` line for a combination the overlapped loop does not support."""
    if not max_staleness:
        return
    from vrl.rollout.hf import HFRolloutEngine

    key = f"stage.rl.max_staleness={max_staleness}"
    if not isinstance(rollout, HFRolloutEngine):
        why = f"needs rollout=fast or hf (the worker samples with its own copy of the policy), not {type(rollout).__name__}"
    elif rollout.tool_loop is not None:
        why = "runs single-turn rollouts only: set tool=none"
    elif rethink.active:
        why = "cannot rethink (it would continue stale responses with newer weights): set rethink=none"
    elif replay.target_size is not None:
        why = (
            "cannot do dynamic sampling (a step would need batches nobody prefetched): set "
            "replay.target_size=null or replay=ssr|none"
        )
    elif str(trainer.accelerator).lower() != "cpu" or trainer.processes != 1:
        why = (
            f"runs one trainer process on CPU (trainer.accelerator={trainer.accelerator}, "
            f"{trainer.processes} processes): use trainer=cpu"
        )
    else:
        return
    raise ConfigError(f"{key} {why}, or set stage.rl.max_staleness=0")


class OverlappedRollout:
    """Prefetches the next step's batch in a rollout worker while the trainer updates.

    Args:
        model, processor, engine: the policy, its processor, the hf engine (the worker copies them).
        group_size: responses per prompt.
        micro_batch_size: responses per behaviour log-prob pass.
    """

    def __init__(
        self, model: Any, processor: Any, engine: Any, group_size: int, micro_batch_size: int
    ) -> None:
        self._args = (model, processor, engine, group_size, micro_batch_size)
        self.seed = 0
        self._worker: RolloutWorker | None = None
        self._ready: RolloutResult | None = None  # drained at a checkpoint, or restored from one

    def start(self, seed: int = 0) -> None:
        """Spawn the worker (idempotent); step k samples under `seed * _SEED_STRIDE + k` (`seed`:
        the run's, which a resumed run has too)."""
        self.seed = int(seed)
        if self._worker is None:
            self._worker = RolloutWorker(*self._args)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def prefetch(
        self, step: int, position: int, samples: list[Sample], first_group_id: int, model: Any, version: int
    ) -> None:
        """Publish `model`'s weights (trained for `version` steps) and have the worker sample
        `samples` (stream position `position`) for `step`; returns at once."""
        if self._worker is None:
            self.start(self.seed)
        assert self._worker is not None and self._ready is None, "a batch is already prefetched"
        self._worker.publish(model)
        self._worker.submit(
            RolloutRequest(
                step=step,
                position=position,
                samples=samples,
                first_group_id=first_group_id,
                weights_version=version,
                seed=self.seed * _SEED_STRIDE + step,
            )
        )

    def take(
        self, step: int, position: int, samples: list[Sample], first_group_id: int, model: Any, version: int
    ) -> tuple[list[Trajectory], dict[str, float]]:
        """Step `step`'s batch: the prefetched one (waiting for it), else sampled now with
        `model` (the first step, or a resume without a batch in flight). Its trajectories (with
        behaviour log-probs) and metrics: `rollout/staleness`, the worker's `timing_s/...`."""
        if self._ready is None and (self._worker is None or not self._worker.busy):
            self.prefetch(step, position, samples, first_group_id, model, version)
        result = self._ready if self._ready is not None else self._worker.receive()  # type: ignore[union-attr]
        self._ready = None
        expected = (step, position, first_group_id)
        got = (result.step, result.position, result.first_group_id)
        if got != expected:
            raise RuntimeError(f"prefetched batch (step, position, group) {got} != {expected}")
        return result.trajectories, {
            **result.engine_stats,
            "rollout/staleness": float(step - result.weights_version),
            "timing_s/worker_rollout": result.rollout_s,
            "timing_s/worker_logprob": result.logprob_s,
            "timing_s/worker_cpu": result.cpu_s,
        }

    # -- checkpoints ------------------------------------------------------------------------------

    def state_dict(self) -> RolloutResult | None:
        """The batch in flight (waited for: a checkpoint holds it whole), or None."""
        if self._ready is None and self._worker is not None and self._worker.busy:
            self._ready = self._worker.receive()
        return self._ready

    def load_state_dict(self, state: RolloutResult | None) -> None:
        self._ready = state
