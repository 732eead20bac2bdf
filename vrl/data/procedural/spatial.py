"""spatial: where is the red shape relative to the blue one -> left, right, above, below (text).

Two shapes (radius 8-10.5 px at 56 px), one red and one blue, separated along one axis by
at least the sum of their radii plus a gap; the offset along the other axis is at most half
the main offset, so the answer is never ambiguous. Difficulty from that ratio:
1 below 0.2, 2 below 0.35, else 3.
"""

from __future__ import annotations

import random

from .base import PALETTE, SHAPES, Problem, TaskFamily, canvas, draw_shape, scale

DIRECTIONS = ("left", "right", "above", "below")


def draw(rng: random.Random, size: int) -> Problem:
    s = scale(size)
    direction = rng.choice(DIRECTIONS)
    r_red, r_blue = rng.uniform(8.0, 10.5) * s, rng.uniform(8.0, 10.5) * s
    room = size - r_red - r_blue - 2  # the largest centre distance that fits on one axis
    main = rng.uniform(r_red + r_blue + 3 * s, room)
    cross = rng.uniform(-0.5, 0.5) * main
    # Along the main axis the red shape comes first for left/above, second for right/below.
    red_first = direction in ("left", "above")
    r_first, r_second = (r_red, r_blue) if red_first else (r_blue, r_red)
    a = rng.uniform(r_first + 1, size - r_second - 1 - main)
    b_lo = max(r_first + 1, r_second + 1 - cross)
    b_hi = min(size - r_first - 1, size - r_second - 1 - cross)
    b = rng.uniform(b_lo, b_hi)
    first, second = (a, b), (a + main, b + cross)
    red, blue = (first, second) if red_first else (second, first)
    if direction in ("above", "below"):  # the main axis is vertical: swap coordinates
        red, blue = red[::-1], blue[::-1]
    image, pen = canvas(size)
    draw_shape(pen, rng.choice(SHAPES), *red, r_red, PALETTE["red"])
    draw_shape(pen, rng.choice(SHAPES), *blue, r_blue, PALETTE["blue"])
    ratio = abs(cross) / main
    difficulty = 1 if ratio < 0.2 else 2 if ratio < 0.35 else 3
    return Problem(image, answer=direction, difficulty=difficulty, details={"offset_ratio": round(ratio, 3)})


TASK = TaskFamily(
    name="spatial",
    question="Is the red shape left of, right of, above or below the blue shape?",
    answer_type="text",
    answers=DIRECTIONS,
    draw=draw,
)
