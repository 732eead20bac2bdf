"""count: "How many circles are there?" -> 1..4 (integer).

1 to 4 non-overlapping circles of random colours, radius 8-10.5 px at 56 px (the setting
a ~1M-param VLM learns to 100% in ~200 steps). Difficulty: 1 for 1-2 circles, 2 for 3, 3 for 4.
"""

from __future__ import annotations

import random

from .base import COLORS, PALETTE, Problem, TaskFamily, canvas, draw_shape, place_apart, scale

MAX_COUNT = 4


def draw(rng: random.Random, size: int) -> Problem:
    s = scale(size)
    n = rng.randint(1, MAX_COUNT)
    radii = [rng.uniform(8.0, 10.5) * s for _ in range(n)]
    colors = [rng.choice(COLORS) for _ in range(n)]
    image, pen = canvas(size)
    for (x, y), r, color in zip(place_apart(rng, size, radii, gap=2.0 * s), radii, colors):
        draw_shape(pen, "circle", x, y, r, PALETTE[color])
    return Problem(image, answer=str(n), difficulty={1: 1, 2: 1, 3: 2}.get(n, 3), details={"colors": colors})


TASK = TaskFamily(
    name="count",
    question="How many circles are there?",
    answer_type="integer",
    answers=tuple(str(n) for n in range(1, MAX_COUNT + 1)),
    draw=draw,
)
