"""What a rollout engine is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from vrl.data.schema import Sample


class RolloutEngine(Protocol):
    """Generates responses for prompts. `hf` runs `model.generate`; `vllm` (GPU) a colocated LLM.

    `generate` returns one decoded response per (sample, repeat), samples-major:
    `[s0r0, s0r1, ..., s1r0, ...]` for `n` repeats.

    `last_stats` holds what only the engine knows about its last `generate`/`rollout` call,
    as metric name -> value (`tool/...` for `MultiTurnRollout`; empty for a plain engine). The RL
    step logs it and the eval stage aggregates it.
    """

    last_stats: dict[str, float]

    def generate(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int = 1, **sampling: Any
    ) -> list[str]: ...
