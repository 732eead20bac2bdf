"""What a rollout engine hands back when asked to continue a response (rethinking, tool turns)."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from vrl.policy.trajectory import Trajectory


class Continuation(NamedTuple):
    """What the rollout engine returns for one prefix.

    Attributes:
        text: the newly generated text only (after the prefix).
        token_ids: the newly generated token ids only (their count is "new tokens").
        finished: True if generation ended with EOS or a stop string (not the length cap).
        prefix_ids: the token ids of the prefix text as the engine encoded it (the truncated
            response plus the trigger); the continued response is `prefix_ids + token_ids`.
        log_probs: the engine's own log-prob of each of `token_ids` as it sampled them
            (`Trajectory.sampling_log_probs`); None when the engine reports none.
    """

    text: str
    token_ids: list[int]
    finished: bool
    prefix_ids: list[int]
    log_probs: list[float] | None = None


class ContinueFn(Protocol):
    """`continue_fn(items, **overrides) -> [Continuation]`, the engine's continuation boundary.

    For each `(trajectory, prefix_text)` the engine generates after the trajectory's own
    `prompt_ids` + the prefix text's tokens, with the trajectory's images (the sample's, then any
    a tool returned), and returns the continuations in the same order. `overrides` change the
    sampling the engine was asked for (`Sampling.override`), e.g. `temperature=0.9` for forced
    rethinking or `temperature=0.0` for GRPO-ATS code.
    """

    def __call__(self, items: list[tuple[Trajectory, str]], **overrides: Any) -> list[Continuation]: ...
