"""`RolloutWorker`: the hf engine in a process of its own, sampling with its own copy of the policy.

The trainer keeps training while the worker samples (`vrl.rl.overlap`). The worker's copy lives
in shared memory: `publish(model)` copies the trainer's weights into it (only while the worker
is idle: between a `receive` and the next `submit`), so nothing crosses the pipe but prompts
and trajectories. Each request is sampled under a seed of its own (`RolloutRequest.seed`), so a
batch does not depend on which process sampled it, nor on what the worker sampled before.

Besides the responses the worker returns the behaviour policy's log-probs (`old_log_probs`:
the weights it sampled with, eval mode, temperature-scaled, exactly as the trainer's step 5
computes them): the PPO ratio's denominator, i.e. the importance correction of stale samples.
The worker ends when its pipe closes (`close`, or the trainer process dying).
"""

from __future__ import annotations

import atexit
import copy
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch

from vrl.data.schema import Sample
from vrl.interrupt import STOP_SIGNALS
from vrl.policy.images import ImageCache
from vrl.policy.log_probs import response_log_probs
from vrl.policy.trajectory import Trajectory
from vrl.rollout.base import adopt_engine_log_probs


@dataclass
class RolloutRequest:
    """One prompt batch to sample.

    Attributes:
        step: the RL step that will train on the batch.
        position: the batch's position in the prompt stream.
        samples: its prompts.
        first_group_id: group id of its first prompt.
        weights_version: RL steps the published weights have been trained for.
        seed: the torch seed the worker samples under.
    """

    step: int
    position: int
    samples: list[Sample]
    first_group_id: int
    weights_version: int
    seed: int


@dataclass
class RolloutResult:
    """A sampled batch: `group_size` trajectories per prompt, samples-major, each with its
    behaviour log-probs in `old_log_probs`; the request's fields; the worker's wall times and
    its CPU seconds for the whole request."""

    step: int
    position: int
    first_group_id: int
    weights_version: int
    trajectories: list[Trajectory]
    engine_stats: dict[str, float] = field(default_factory=dict)
    rollout_s: float = 0.0
    logprob_s: float = 0.0
    cpu_s: float = 0.0


class RolloutWorker:
    """A spawned process that samples `group_size` responses per prompt with `engine`.

    Args:
        model: the policy; the worker gets a copy in shared memory (its weights as of now).
        processor: the policy's processor.
        engine: an hf engine (`vrl.rollout.hf.HFRolloutEngine`, no tool loop).
        group_size: responses per prompt.
        micro_batch_size: responses per behaviour log-prob pass.
        threads: torch threads of the worker process.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        engine: Any,
        group_size: int,
        micro_batch_size: int,
        threads: int = 1,
    ) -> None:
        self._weights = copy.deepcopy(model).eval().requires_grad_(False).share_memory()
        self._shared_state = self._weights.state_dict(keep_vars=False)
        context = torch.multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, self._weights, processor, engine, group_size, micro_batch_size, threads),
            name="vrl-rollout-worker",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._busy = True
        # Closed before multiprocessing's own exit hook (atexit runs last-registered first), which
        # would SIGTERM the worker (ignored: see `_serve`) and wait for it, however the run ends.
        atexit.register(self.close)
        self._reply()  # "ready": the worker has imported everything and holds the weights

    def publish(self, model: Any) -> None:
        """Copy `model`'s weights into the worker's (call only while no request is in flight)."""
        if self._busy:
            raise RuntimeError("publish while the rollout worker samples: receive its batch first")
        with torch.no_grad():
            for name, value in model.state_dict().items():
                self._shared_state[name].copy_(value)

    def submit(self, request: RolloutRequest) -> None:
        if self._busy:
            raise RuntimeError("the rollout worker already samples a batch: receive it first")
        self._conn.send(request)
        self._busy = True

    def receive(self) -> RolloutResult:
        """The in-flight batch, once sampled (blocks); re-raises the worker's error."""
        return self._reply()

    def _reply(self) -> Any:
        try:
            reply = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the rollout worker died (exit code {self._process.exitcode})") from None
        self._busy = False
        if isinstance(reply, BaseException):
            raise RuntimeError(f"the rollout worker failed: {reply}") from None
        return reply

    @property
    def busy(self) -> bool:
        return self._busy

    def close(self) -> None:
        """End the process (idempotent): at its pipe's EOF when idle, killed while it samples a
        batch nobody will take."""
        if self._process is None:
            return
        atexit.unregister(self.close)
        self._conn.close()
        if not self._busy:
            self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process = None


def _serve(
    conn: Any, model: Any, processor: Any, engine: Any, group_size: int, micro_batch_size: int, threads: int
) -> None:
    """The worker's loop: one `RolloutResult` (or the exception) per `RolloutRequest`, until EOF."""
    # Stop signals are the trainer's to handle (it saves a checkpoint holding this worker's batch,
    # `vrl.interrupt`); Ctrl-C reaches the whole process group. The worker ends at the pipe's EOF.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    torch.set_num_threads(threads)
    temperature = engine.sampling.temperature
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        try:
            reply = _sample(request, model, processor, engine, group_size, micro_batch_size, temperature)
        except Exception as error:  # reported to the trainer, which raises it there
            reply = RuntimeError(f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        try:
            conn.send(reply)
        except OSError:  # the trainer is gone
            return


def _sample(
    request: RolloutRequest,
    model: Any,
    processor: Any,
    engine: Any,
    group_size: int,
    micro_batch_size: int,
    temperature: float,
) -> RolloutResult:
    torch.manual_seed(request.seed)
    images = ImageCache()
    start, start_cpu = time.perf_counter(), time.process_time()
    trajectories = engine.rollout(
        model,
        processor,
        request.samples,
        group_size,
        step=request.step,
        first_group_id=request.first_group_id,
        image_cache=images,
    )
    rollout_s = time.perf_counter() - start
    missing = adopt_engine_log_probs(engine, trajectories)
    values = (
        response_log_probs(model, processor, missing, temperature, micro_batch_size, images)
        if missing
        else []
    )
    for trajectory, row in zip(missing, values):
        trajectory.old_log_probs = row
    return RolloutResult(
        step=request.step,
        position=request.position,
        first_group_id=request.first_group_id,
        weights_version=request.weights_version,
        trajectories=trajectories,
        engine_stats=dict(engine.last_stats),
        rollout_s=rollout_s,
        logprob_s=time.perf_counter() - start - rollout_s,
        cpu_s=time.process_time() - start_cpu,
    )
