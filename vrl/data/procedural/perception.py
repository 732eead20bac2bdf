"""perception: point-level perception questions over rendered scenes (V-Perception-40K style).

Three kinds, one per difficulty level, drawn per seed:
1. locate: "Where is the centre of the red circle?" -> "(x, y)" in pixels (2-3 objects).
2. marked: "Which shape is marked with a black ring?" -> a shape name (3-4 objects, one ringed).
3. vertex: "Where is the top vertex of the triangle?" -> "(x, y)" of that vertex.

Objects sit on a 7x7 grid of cells (16 px at the base size of 112 px), so every gold point is
a cell centre or grid point: coordinate answers are exact integers (answer_type "coordinates",
scored exactly by `vrl.answer.equivalence`) and `coordinates_close` also accepts answers
within half a cell (`metadata["tolerance"]`), the way V-Perception scores points.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

from PIL import Image, ImageDraw

from vrl.answer.equivalence import split_items
from vrl.answer.numbers import parse_number
from vrl.errors import ConfigError

from ..schema import IMAGE_PLACEHOLDER, Sample, Skipped
from .base import COLORS, PALETTE, SHAPES, canvas, draw_shape
from .seed_range import check_seed_range, seed_range

KINDS = ("locate", "marked", "vertex")  # index + 1 = difficulty
GRID = 7  # cells per side
BASE_SIZE = 112  # the tiny model's largest image (16 tokens); sizes scale with image_size / 112
MIN_SIZE = 56
LOCATE_QUESTION = "Where is the centre of the {color} {shape}? Answer as (x, y) in pixels."
MARKED_QUESTION = "Which shape is marked with a black ring?"
VERTEX_QUESTION = "Where is the {side} vertex of the triangle? Answer as (x, y) in pixels."
SIDES = ("top", "bottom", "leftmost", "rightmost")


def cell_centre(index: int, size: int) -> int:
    """Pixel coordinate of the centre of grid cell `index` (0..GRID-1) on a `size` px image."""
    return round((index + 0.5) * size / GRID)


def coordinates_close(pred: str | None, gold: str, tolerance: float) -> bool:
    """Whether "(x, y)" `pred` lies within `tolerance` px (Euclidean) of `gold`; False if unparsable."""
    if pred is None:
        return False
    p = [parse_number(v) for v in split_items(pred)]
    g = [parse_number(v) for v in split_items(gold)]
    if len(p) != 2 or len(g) != 2 or None in p or None in g:
        return False
    return math.dist(p, g) <= tolerance


def _free_cells(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """n grid cells at least two cells apart (Chebyshev), so rings and shapes never touch."""
    for _ in range(1000):
        cells: list[tuple[int, int]] = []
        for _ in range(200):
            c = (rng.randrange(GRID), rng.randrange(GRID))
            if all(max(abs(c[0] - d[0]), abs(c[1] - d[1])) >= 2 for d in cells):
                cells.append(c)
                if len(cells) == n:
                    return cells
    raise RuntimeError(f"could not place {n} objects on the {GRID}x{GRID} grid")


def _objects(rng: random.Random, n: int, shapes: Sequence[str], size: int) -> list[dict[str, Any]]:
    colors = rng.sample(COLORS, n)  # distinct colours: "the red circle" names one object
    return [
        {"shape": shape, "color": color, "x": cell_centre(cx, size), "y": cell_centre(cy, size)}
        for (cx, cy), shape, color in zip(_free_cells(rng, n), shapes, colors)
    ]


def _paint(objects: list[dict[str, Any]], size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image, pen = canvas(size)
    for o in objects:
        draw_shape(pen, o["shape"], o["x"], o["y"], 0.4 * size / GRID, PALETTE[o["color"]])
    return image, pen


def draw(rng: random.Random, size: int) -> dict[str, Any]:
    """One problem: image, question, answer, answer_type, kind, difficulty, elements."""
    kind = rng.choice(KINDS)
    if kind == "locate":
        objects = _objects(rng, rng.randint(2, 3), [rng.choice(SHAPES) for _ in range(3)], size)
        target = rng.choice(objects)
        image, _ = _paint(objects, size)
        question = LOCATE_QUESTION.format(color=target["color"], shape=target["shape"])
        answer, answer_type = f"({target['x']}, {target['y']})", "coordinates"
    elif kind == "marked":
        objects = _objects(rng, rng.randint(3, 4), rng.sample(SHAPES, 4), size)
        target = rng.choice(objects)
        image, pen = _paint(objects, size)
        r = 0.48 * size / GRID  # just outside the shape, inside its cell
        x, y = target["x"], target["y"]
        pen.ellipse((x - r, y - r, x + r, y + r), outline=(0, 0, 0), width=max(1, round(size / 112)))
        question, answer, answer_type = MARKED_QUESTION, target["shape"], "text"
        target["marked"] = True
    else:
        cols, rows = rng.sample(range(GRID), 3), rng.sample(range(GRID), 3)
        points = [(cell_centre(c, size), cell_centre(r, size)) for c, r in zip(cols, rows)]
        objects = [{"shape": "triangle_vertex", "x": x, "y": y} for x, y in points]
        image, pen = canvas(size)
        color = rng.choice(COLORS)
        pen.polygon(points, outline=PALETTE[color], width=max(2, round(2 * size / 112)))
        side = rng.choice(SIDES)
        key = {"top": lambda p: p[1], "bottom": lambda p: -p[1], "leftmost": lambda p: p[0]}.get(
            side, lambda p: -p[0]
        )
        x, y = min(points, key=key)  # rows and columns are distinct, so this vertex is unique
        question, answer, answer_type = VERTEX_QUESTION.format(side=side), f"({x}, {y})", "coordinates"
    return {
        "image": image,
        "question": question,
        "answer": answer,
        "answer_type": answer_type,
        "kind": kind,
        "difficulty": KINDS.index(kind) + 1,
        "elements": objects,
    }


def generate(seed: int, image_size: int = BASE_SIZE) -> Sample:
    """The perception problem for `seed`: the same (seed, image_size) gives the same sample."""
    if image_size < MIN_SIZE:
        raise ConfigError(
            f"image_size: {image_size} is too small for a {GRID}x{GRID} grid; use >= {MIN_SIZE}"
        )
    problem = draw(random.Random(f"perception/{seed}"), image_size)
    return Sample(
        id=f"procedural/perception/{seed}",
        images=[problem["image"]],
        prompt=[{"role": "user", "content": IMAGE_PLACEHOLDER + problem["question"]}],
        answer=problem["answer"],
        answer_type=problem["answer_type"],
        category=f"perception_{problem['kind']}",
        source="procedural",
        metadata={
            "seed": seed,
            "family": "perception",
            "kind": problem["kind"],
            "difficulty": problem["difficulty"],
            "image_size": image_size,
            "tolerance": image_size / GRID / 2,  # px: half a cell
            "elements": problem["elements"],
        },
    )


def corpus() -> Iterator[str]:
    """Every question and answer text the perception generator can produce (coordinates aside)."""
    for color in COLORS:
        for shape in SHAPES:
            yield LOCATE_QUESTION.format(color=color, shape=shape)
    yield MARKED_QUESTION
    yield from (VERTEX_QUESTION.format(side=side) for side in SIDES)
    yield from SHAPES


class PerceptionSource:
    """Perception samples for seeds `seed_start, seed_start + 1, ...` (hold-out guard as `ProceduralSource`).

    Args:
        num_samples: how many samples; None = unlimited (training: up to the hold-out range).
        seed_start: the first seed.
        image_size: image side in px (>= 56; the grid and objects scale with it).
        weight: relative share of this source in a mixture.
        holdout: this source is for evaluation and reads seeds >= HOLDOUT_SEED_START.
    """

    name = "perception"

    def __init__(
        self,
        num_samples: int | None = None,
        seed_start: int = 0,
        image_size: int = BASE_SIZE,
        weight: float = 1.0,
        holdout: bool = False,
    ) -> None:
        check_seed_range(seed_start, num_samples, holdout)
        if image_size < MIN_SIZE:
            raise ConfigError(
                f"image_size: {image_size} is too small for a {GRID}x{GRID} grid; use >= {MIN_SIZE}"
            )
        if weight < 0:
            raise ConfigError(f"weight: {weight} is negative; use a relative share >= 0")
        self.num_samples, self.seed_start, self.image_size = num_samples, seed_start, image_size
        self.weight, self.holdout = float(weight), holdout

    def iter_samples(self) -> Iterator[Sample | Skipped]:
        for seed in seed_range(self.seed_start, self.num_samples, self.holdout):
            yield generate(seed, self.image_size)

    def corpus(self) -> Iterator[str]:
        yield from corpus()
