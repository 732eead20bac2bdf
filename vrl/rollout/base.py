"""What a rollout engine is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from vrl.data.schema import Sample


class RolloutEngine(Protocol):
    """Generates responses for prompts. `hf` runs `model.generate`; `vllm` (GPU) a colocated LLM.

    `generate` returns one decoded response per (sample, repeat), samples-major:
    `[s0r0, s0r1, ..., s1r0, ...]` for `n` repeats.
    """

    def generate(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int = 1, **sampling: Any
    ) -> list[str]: ...
