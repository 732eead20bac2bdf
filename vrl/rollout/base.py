"""What a rollout engine is (`RolloutEngine`), and what every engine shares (`Engine`).

An engine turns prompts into responses with a model. The RL step and the eval stage call the
protocol only; `Engine` implements its sampling merge and its tool loop once, on top of three
primitives each engine writes (`generate_texts`, `sample_trajectories`,
`continue_trajectories`) and its lifecycle (`sleep`, `wake`, `sync_weights`, `close`).

Engines sample. The log-probs a loss uses are the trainer's (`vrl.policy.log_probs`, on the RL
side); an engine that gets its own per-token log-probs while sampling keeps them in
`Trajectory.sampling_log_probs` (and `Continuation.log_probs`). From an engine with its own
weights and kernels (vLLM) they are the behaviour policy's record, which the RL step compares
with the trainer's (`rollout/logprob_diff_*`); from one that runs the trained module itself and
scores as the trainer does (`fast`: `reports_policy_log_probs`), they *are* the trainer's old
log-probs, and the RL step takes them instead of running its own pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from vrl.data.schema import Sample
from vrl.errors import ConfigError
from vrl.policy.continuation import Continuation, ContinueFn
from vrl.policy.sampling import Sampling
from vrl.policy.trajectory import Trajectory
from vrl.rollout.tool_loop import ToolLoop

if TYPE_CHECKING:  # annotations only
    from vrl.policy.images import ImageCache, PromptEncoding
    from vrl.sandbox import Sandbox


class RolloutEngine(Protocol):
    """Generates responses for prompts (`HFRolloutEngine`, `VLLMRolloutEngine`).

    Attributes:
        sampling: the run's sampling (`rollout.sampling`); every call may override parts of it
            (`vrl.policy.sampling`).
        batch_size: prompts per underlying generate call.
        tool_loop: the multi-turn tool loop (`rollout.tool_loop`), or None for single-turn.
        last_stats: what only the engine knows about its last `generate`/`rollout` call, as
            metric name -> value (`tool/...` with a tool loop; empty otherwise).
        samples_from_policy: True when the engine runs the trained module itself (`hf`): the
            RL step then holds the module's full weights for the rollout under FSDP2
            (`vrl.rollout.full_weights`). False when it keeps its own copy (vLLM).
        reports_policy_log_probs: True when its `sampling_log_probs` are the trainer's own old
            log-probs (same module and weights, eval mode, unprocessed logits at the run's
            temperature: `fast`), which the RL step then uses as `old_log_probs`.
    """

    sampling: Sampling
    batch_size: int
    tool_loop: ToolLoop | None
    last_stats: dict[str, float]
    samples_from_policy: bool
    reports_policy_log_probs: bool

    def generate(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int = 1, **overrides: Any
    ) -> list[str]:
        """One decoded response per (sample, repeat), samples-major: `[s0r0, s0r1, ..., s1r0, ...]`."""
        ...

    def rollout(
        self,
        model: Any,
        processor: Any,
        samples: Sequence[Sample],
        n: int = 1,
        *,
        step: int = 0,
        first_group_id: int = 0,
        image_cache: ImageCache | None = None,
        **overrides: Any,
    ) -> list[Trajectory]:
        """`n` `Trajectory`s per sample, samples-major; prompt `i` is group `first_group_id + i`.

        `image_cache`: the RL step's processed images; an engine that runs the image processor
        in this process (hf) adds the prompts' images, so the step's log-prob passes reuse them."""
        ...

    def continue_fn(self, model: Any, processor: Any, **overrides: Any) -> ContinueFn:
        """The continuation boundary over `model` (forced rethinking, tool turns)."""
        ...

    def prompt_encoding(self, processor: Any) -> PromptEncoding | None:
        """What `rollout` would encode in this process for a prompt batch, as a picklable
        callable the RL prompt loader may run ahead (`vrl.policy.images.PromptEncoding`); None
        when the engine encodes elsewhere (vLLM's own process) or turn by turn (a tool loop)."""
        ...

    def sleep(self) -> None:
        """Sampling is over for this step: free what the trainer needs (vLLM: GPU memory)."""
        ...

    def wake(self) -> None:
        """Take back what `sleep` freed (the next call does it too)."""
        ...

    def sync_weights(self, model: Any) -> int:
        """Make the engine sample from `model`'s current weights; returns tensors sent."""
        ...

    def close(self) -> None:
        """Release the engine (idempotent); its owner, the run loop, calls it once at the end."""
        ...


class Engine(ABC):
    """The shared half of every engine: sampling merge, tool loop, stats.

    Args:
        batch_size: prompts per underlying generate call.
        sampling: the run's sampling (`rollout.sampling`).
        tool_loop: a `vrl.rollout.tool_loop.ToolLoop` (`tool=code|zoom`), or None.
        sandbox: the run's sandbox, for tools that run code (the component builder passes the
            `sandbox` component here; it is opened and closed by the run loop, not the engine).
    """

    samples_from_policy = False  # the engine keeps its own weights (see `RolloutEngine`)
    reports_policy_log_probs = False  # its log-probs, if any, are a record, not the loss's

    def __init__(
        self,
        batch_size: int = 32,
        sampling: Sampling | None = None,
        tool_loop: ToolLoop | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"rollout.batch_size={batch_size} must be >= 1")
        if tool_loop is not None and tool_loop.tool.needs_sandbox and sandbox is None:
            raise ConfigError(f"tool={tool_loop.tool.name} runs code and needs a sandbox: add sandbox=local")
        self.batch_size = int(batch_size)
        self.sampling = sampling if sampling is not None else Sampling()
        self.tool_loop = tool_loop
        self.sandbox = sandbox
        self.last_stats: dict[str, float] = {}

    # -- the protocol --------------------------------------------------------------------------

    def generate(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int = 1, **overrides: Any
    ) -> list[str]:
        sampling = self.sampling.override(**overrides)
        if self.tool_loop is None:
            return self.generate_texts(model, processor, samples, n, sampling)
        trajectories = self.tool_loop.run(self, model, processor, samples, n, sampling, self.sandbox)
        self.last_stats = self.tool_loop.stats(trajectories)
        return [t.text for t in trajectories]

    def rollout(
        self,
        model: Any,
        processor: Any,
        samples: Sequence[Sample],
        n: int = 1,
        *,
        step: int = 0,
        first_group_id: int = 0,
        image_cache: ImageCache | None = None,
        **overrides: Any,
    ) -> list[Trajectory]:
        sampling = self.sampling.override(**overrides)
        if self.tool_loop is None:
            return self.sample_trajectories(
                model, processor, samples, n, sampling, step, first_group_id, image_cache=image_cache
            )
        trajectories = self.tool_loop.run(
            self,
            model,
            processor,
            samples,
            n,
            sampling,
            self.sandbox,
            step=step,
            first_group_id=first_group_id,
            image_cache=image_cache,
        )
        self.last_stats = self.tool_loop.stats(trajectories)
        return trajectories

    def continue_fn(self, model: Any, processor: Any, **overrides: Any) -> ContinueFn:
        base = self.sampling.override(**overrides)

        def continue_prefixes(items: list[tuple[Trajectory, str]], **more: Any) -> list[Continuation]:
            return self.continue_trajectories(model, processor, items, base.override(**more))

        return continue_prefixes

    def prompt_encoding(self, processor: Any) -> PromptEncoding | None:
        return None  # an engine that encodes in this process says how (`HFRolloutEngine`)

    # -- what each engine writes ---------------------------------------------------------------

    @abstractmethod
    def generate_texts(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int, sampling: Sampling
    ) -> list[str]:
        """Decoded single-turn responses, samples-major."""

    @abstractmethod
    def sample_trajectories(
        self,
        model: Any,
        processor: Any,
        samples: Sequence[Sample],
        n: int,
        sampling: Sampling,
        step: int,
        first_group_id: int,
        image_cache: ImageCache | None = None,
    ) -> list[Trajectory]:
        """Single-turn trajectories with token ids (response cut after its EOS or stop string);
        `image_cache` receives the prompts' processed images if the engine computes them."""

    @abstractmethod
    def continue_trajectories(
        self, model: Any, processor: Any, items: list[tuple[Trajectory, str]], sampling: Sampling
    ) -> list[Continuation]:
        """For each `(trajectory, prefix_text)`: generate after `prompt_ids` + the prefix's tokens."""

    def sleep(self) -> None:  # noqa: B027 - a deliberate no-op default
        """Nothing to free by default."""

    def wake(self) -> None:  # noqa: B027 - a deliberate no-op default
        """Nothing to take back by default."""

    def sync_weights(self, model: Any) -> int:
        """Nothing to copy by default (an engine that samples from the trained module itself)."""
        return 0

    def close(self) -> None:  # noqa: B027 - a deliberate no-op default
        """Nothing to release by default."""


def adopt_engine_log_probs(engine: RolloutEngine, trajectories: Sequence[Trajectory]) -> list[Trajectory]:
    """Give every trajectory without `old_log_probs` the engine's own where those are the
    trainer's (`engine.reports_policy_log_probs`); return the ones still without (they need the
    trainer's log-prob pass: all of them for other engines, rethought ones, which hold tokens
    the engine did not sample)."""
    missing = [t for t in trajectories if t.old_log_probs is None]
    if not engine.reports_policy_log_probs:
        return missing
    for trajectory in missing:
        if trajectory.sampling_log_probs is not None:
            trajectory.old_log_probs = list(trajectory.sampling_log_probs)
    return [t for t in missing if t.old_log_probs is None]
