"""chart: a bar chart of four coloured bars labelled A-D -> the letter of the tallest (choice).

`choices` holds the bars' colour words in letter order, so a scorer may accept "red" for
the letter of the red bar. The tallest bar beats the runner-up by a gap that sets the
difficulty: 1: 30-50% of the chart height, 2: 15-30%, 3: 8-15% (3-6 px at 56 px).
"""

from __future__ import annotations

import functools
import random

from PIL import ImageFont

from .base import COLORS, PALETTE, Problem, TaskFamily, canvas, ink, scale

LETTERS = ("A", "B", "C", "D")
GAPS = {1: (0.30, 0.50), 2: (0.15, 0.30), 3: (0.08, 0.15)}


@functools.lru_cache(maxsize=8)
def _font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=px)


def draw(rng: random.Random, size: int) -> Problem:
    s = scale(size)
    n = len(LETTERS)
    margin, baseline, top = 4 * s, size - 13 * s, 3 * s
    slot, width, height = (size - 2 * margin) / n, 8 * s, baseline - top
    difficulty = rng.choice(tuple(GAPS))
    tallest = rng.uniform(0.6, 1.0) * height
    runner_up = tallest - rng.uniform(*GAPS[difficulty]) * height
    heights = [tallest, runner_up] + [
        rng.uniform(min(0.15 * height, runner_up), runner_up) for _ in range(n - 2)
    ]
    rng.shuffle(heights)
    colors = rng.sample(COLORS, n)
    image, pen = canvas(size)
    pen.line(
        (margin - 2 * s, baseline, size - margin + 2 * s, baseline), fill=(90, 90, 90), width=max(1, round(s))
    )
    for i, (h, color) in enumerate(zip(heights, colors)):
        cx = margin + slot * (i + 0.5)
        pen.rectangle(
            (cx - width / 2, baseline - h, cx + width / 2, baseline), fill=PALETTE[color], **ink(size)
        )
        pen.text(
            (cx, baseline + 2 * s), LETTERS[i], fill=(0, 0, 0), font=_font(max(8, round(10 * s))), anchor="mt"
        )
    answer = LETTERS[heights.index(max(heights))]
    return Problem(
        image,
        answer=answer,
        difficulty=difficulty,
        choices=colors,
        details={"heights_px": [round(h, 1) for h in heights]},
    )


TASK = TaskFamily(
    name="chart",
    question="Which bar is the tallest? Answer with its letter.",
    answer_type="choice",
    answers=LETTERS,
    draw=draw,
    choice_texts=COLORS,
)
