"""geometry: "How many sides does the polygon have?" -> 3..6 (integer).

One filled regular polygon of a random colour, radius 17-24 px at 56 px, randomly rotated.
Difficulty: 1 for triangles and squares, 2 for pentagons, 3 for hexagons.
"""

from __future__ import annotations

import math
import random

from .base import COLORS, PALETTE, Problem, TaskFamily, canvas, ink, regular_polygon, scale

SIDES = (3, 4, 5, 6)


def draw(rng: random.Random, size: int) -> Problem:
    s = scale(size)
    sides, color = rng.choice(SIDES), rng.choice(COLORS)
    r = rng.uniform(17.0, 24.0) * s
    x, y = rng.uniform(r + 1, size - r - 1), rng.uniform(r + 1, size - r - 1)
    image, pen = canvas(size)
    pen.polygon(
        regular_polygon(x, y, r, sides, rng.uniform(0, 2 * math.pi)), fill=PALETTE[color], **ink(size)
    )
    return Problem(
        image, answer=str(sides), difficulty={3: 1, 4: 1, 5: 2}.get(sides, 3), details={"color": color}
    )


TASK = TaskFamily(
    name="geometry",
    question="How many sides does the polygon have?",
    answer_type="integer",
    answers=tuple(str(n) for n in SIDES),
    draw=draw,
)
