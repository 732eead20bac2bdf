"""Name -> task family, and `generate(family, seed)`: the one place a family becomes a `Sample`."""

from __future__ import annotations

import random

from vrl.errors import ConfigError

from ..schema import IMAGE_PLACEHOLDER, Sample
from . import chart, color, count, geometry, shape, spatial
from .base import MIN_IMAGE_SIZE, TaskFamily

# Seeds at or above this are the hold-out range: evaluation only, never training.
HOLDOUT_SEED_START = 1_000_000_000

FAMILIES: dict[str, TaskFamily] = {
    task.name: task for task in (count.TASK, color.TASK, shape.TASK, spatial.TASK, chart.TASK, geometry.TASK)
}
TASK_FAMILIES: tuple[str, ...] = tuple(FAMILIES)


def get_family(family: str, key: str = "families") -> TaskFamily:
    """The family called `family`; ConfigError naming `key` if there is none."""
    if family not in FAMILIES:
        raise ConfigError(f"{key}: unknown task family {family!r}; valid: {', '.join(TASK_FAMILIES)}")
    return FAMILIES[family]


def generate(family: str, seed: int, image_size: int = 56) -> Sample:
    """The problem of `family` for `seed`: the same (family, seed, image_size) gives the same sample."""
    task = get_family(family)
    if image_size < MIN_IMAGE_SIZE:
        raise ConfigError(
            f"image_size: {image_size} is too small to see the objects; use >= {MIN_IMAGE_SIZE}"
        )
    # A string seed goes through SHA-512: stable across runs, platforms and PYTHONHASHSEED.
    problem = task.draw(random.Random(f"{family}/{seed}"), image_size)
    return Sample(
        id=f"procedural/{family}/{seed}",
        images=[problem.image],
        prompt=[{"role": "user", "content": IMAGE_PLACEHOLDER + task.question}],
        answer=problem.answer,
        answer_type=task.answer_type,
        choices=list(problem.choices),
        category=family,
        source="procedural",
        metadata={
            "seed": seed,
            "family": family,
            "difficulty": problem.difficulty,
            "image_size": image_size,
            **problem.details,
        },
    )


def chance_accuracy(family: str) -> float:
    """Accuracy of guessing uniformly over the family's answer set."""
    return 1.0 / len(get_family(family).answers)
