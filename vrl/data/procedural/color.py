"""color: "What color is the shape?" -> one of six colour words (text).

One shape (circle, square, triangle or star) of radius 10-18 px at 56 px anywhere on the
image. Difficulty: 1 when the radius is >= 14 px (at 56 px), else 2.
"""

from __future__ import annotations

import random

from .base import COLORS, PALETTE, SHAPES, Problem, TaskFamily, canvas, draw_shape, scale


def draw(rng: random.Random, size: int) -> Problem:
    s = scale(size)
    shape, color = rng.choice(SHAPES), rng.choice(COLORS)
    r = rng.uniform(10.0, 18.0) * s
    x, y = rng.uniform(r + 1, size - r - 1), rng.uniform(r + 1, size - r - 1)
    image, pen = canvas(size)
    draw_shape(pen, shape, x, y, r, PALETTE[color])
    return Problem(image, answer=color, difficulty=1 if r >= 14 * s else 2, details={"shape": shape})


TASK = TaskFamily(
    name="color",
    question="What color is the shape?",
    answer_type="text",
    answers=COLORS,
    draw=draw,
)
