"""DeepEyes' tool reward (arXiv 2505.14362): a bonus only when the response looked at a tool
image (a zoom crop) and its final answer is right; never for calling a tool alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrl.answer.final import answer_is_correct


def tool_bonus_reward(
    completions: Sequence[str],
    answer: Sequence[str],
    tool_images: Sequence[int] | None = None,
    answer_type: Sequence[str] | None = None,
    choices: Sequence[Sequence[str]] | None = None,
    bonus: float = 1.0,
    **_: Any,
) -> list[float | None]:
    """Reward contract: `bonus` if the response has at least one tool image and a correct final
    answer, else 0.0. `tool_images`: images tools returned per response (`reward_inputs`)."""
    n = len(completions)
    images = list(tool_images) if tool_images is not None else [0] * n
    types = list(answer_type) if answer_type is not None else ["text"] * n
    options = list(choices) if choices is not None else [[]] * n
    return [
        bonus if used > 0 and answer_is_correct(text, gold, kind, opts) else 0.0
        for text, gold, used, kind, opts in zip(completions, answer, images, types, options)
    ]
