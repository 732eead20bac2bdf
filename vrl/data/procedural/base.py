"""What a procedural task family is, plus the drawing helpers the families share.

A family is a fixed question, a fixed answer set and a `draw(rng, size)` function that
returns one `Problem` (an image and its gold answer). Everything random comes from the
`random.Random` it is handed, so a (family, seed) pair always gives the same problem.

Sizes are written for a 56 px image and scaled by `size / 56`: the smallest object has a
radius of ~8 px at 56 px, which a ~1M-param VLM can see (14 px patches; see
ENVIRONMENT.md: 5 px objects stay at chance, 8 px ones are learned).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw

BASE_SIZE = 56  # the size the constants below are written for
MIN_IMAGE_SIZE = 32  # below this even the largest objects fall under half a patch
# The blank canvas: the grey of Qwen2.5-VL's (CLIP's) image_mean, which the processor normalises
# to zero, so each palette colour departs from it in its own direction. On white every colour is
# mostly "darker than the page", one direction all six share, and the tiny VLM never learned the
# colour family (chance in every run); on plain grey it learned colour but lost the chart family.
# Grey with a dark outline round every filled object learns both: experiments/colour.
GREY_CANVAS = (123, 117, 104)
BACKGROUND = GREY_CANVAS
# The line drawn round every filled object (None: none), 1 px at 56 px: the "ink" edge all
# objects share, as white gave them, while the fill keeps its hue.
OUTLINE: tuple[int, int, int] | None = (0, 0, 0)

# Six colours far apart in RGB, each named by one common word.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "green": (34, 160, 60),
    "blue": (37, 99, 235),
    "yellow": (234, 196, 20),
    "purple": (147, 51, 234),
    "orange": (249, 115, 22),
}
COLORS = tuple(PALETTE)
SHAPES = ("circle", "square", "triangle", "star")


@dataclass
class Problem:
    """One drawn problem: what `draw` returns; `generate` wraps it into a `Sample`."""

    image: Image.Image
    answer: str
    difficulty: int  # 1 (easy) .. 3 (hard); each family's module says what makes it hard
    choices: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # small, JSON-able: what was drawn


@dataclass(frozen=True)
class TaskFamily:
    """A family of verifiable visual problems."""

    name: str
    question: str  # fixed per family (the tiny model's tokenizer is trained on these strings)
    answer_type: str  # one of schema.ANSWER_TYPES
    answers: tuple[str, ...]  # every answer `draw` can return
    draw: Callable[[random.Random, int], Problem]
    choice_texts: tuple[str, ...] = ()  # every option text `draw` can put in `choices`


def canvas(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (size, size), BACKGROUND)
    return image, ImageDraw.Draw(image)


def scale(size: int) -> float:
    return size / BASE_SIZE


def ink(size: int) -> dict[str, Any]:
    """The outline arguments of a filled object (`OUTLINE`; empty when there is none)."""
    return {} if OUTLINE is None else {"outline": OUTLINE, "width": max(1, round(scale(size)))}


def draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill: tuple[int, int, int]
) -> None:
    """Fill `shape` centred at (cx, cy) within a circle of radius r (similar visual area)."""
    edge = ink(draw.im.size[0])
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, **edge)
    elif shape == "square":
        h = r * 0.85
        draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=fill, **edge)
    elif shape == "triangle":
        draw.polygon(regular_polygon(cx, cy, r, 3, -math.pi / 2), fill=fill, **edge)
    elif shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=fill, **edge)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def regular_polygon(cx: float, cy: float, r: float, sides: int, rotation: float) -> list[tuple[float, float]]:
    return [
        (
            cx + r * math.cos(rotation + 2 * math.pi * k / sides),
            cy + r * math.sin(rotation + 2 * math.pi * k / sides),
        )
        for k in range(sides)
    ]


def place_apart(
    rng: random.Random, size: int, radii: list[float], gap: float, restarts: int = 100
) -> list[tuple[float, float]]:
    """Centres for circles of `radii` inside the image, at least `gap` px apart edge to edge.

    Rejection sampling (each object gets 100 tries, then the layout restarts); the families
    keep their objects small enough that it always succeeds, so a failure raises.
    """
    for _ in range(restarts):
        centres: list[tuple[float, float]] = []
        for r in radii:
            for _ in range(100):
                x = rng.uniform(r + 1, size - r - 1)
                y = rng.uniform(r + 1, size - r - 1)
                if all(math.hypot(x - px, y - py) >= r + pr + gap for (px, py), pr in zip(centres, radii)):
                    centres.append((x, y))
                    break
            else:
                break
        if len(centres) == len(radii):
            return centres
    raise RuntimeError(f"could not place {len(radii)} objects on a {size} px image")
