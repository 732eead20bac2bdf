"""shape: "What shape is this?" -> circle, square, triangle or star (text).

One shape of a random colour, radius 11-20 px at 56 px. Difficulty: 1 when the radius is
>= 15 px (at 56 px), else 2.
"""

from __future__ import annotations

import random

from .base import COLORS, PALETTE, SHAPES, Problem, TaskFamily, canvas, draw_shape, scale


def draw(rng: random.Random, size: int) -> Problem:
    s = scale(size)
    shape, color = rng.choice(SHAPES), rng.choice(COLORS)
    r = rng.uniform(11.0, 20.0) * s
    x, y = rng.uniform(r + 1, size - r - 1), rng.uniform(r + 1, size - r - 1)
    image, pen = canvas(size)
    draw_shape(pen, shape, x, y, r, PALETTE[color])
    return Problem(image, answer=shape, difficulty=1 if r >= 15 * s else 2, details={"color": color})


TASK = TaskFamily(
    name="shape",
    question="What shape is this?",
    answer_type="text",
    answers=SHAPES,
    draw=draw,
)
