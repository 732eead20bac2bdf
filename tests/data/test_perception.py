"""Perception generator: determinism, answers recomputed from the scene and the pixels, seed ranges, scorer."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from vrl.answer.equivalence import is_equivalent
from vrl.data.procedural import HOLDOUT_SEED_START
from vrl.data.procedural.base import BACKGROUND, PALETTE
from vrl.data.procedural.perception import (
    GRID,
    KINDS,
    PerceptionSource,
    cell_centre,
    coordinates_close,
    generate,
)
from vrl.data.schema import ANSWER_TYPES, IMAGE_PLACEHOLDER
from vrl.errors import ConfigError

SEEDS = range(90)


def _xy(answer: str) -> tuple[int, int]:
    x, y = re.fullmatch(r"\((\d+), (\d+)\)", answer).groups()
    return int(x), int(y)


def test_same_seed_same_sample_and_seeds_differ():
    a, b = generate(7), generate(7)
    assert a.images[0].tobytes() == b.images[0].tobytes()
    assert (a.prompt, a.answer, a.metadata) == (b.prompt, b.answer, b.metadata)
    images = {generate(seed).images[0].tobytes() for seed in range(20)}
    assert len(images) == 20


def test_every_kind_and_difficulty_appears_with_valid_fields():
    samples = [generate(seed) for seed in SEEDS]
    kinds = Counter(s.metadata["kind"] for s in samples)
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 15
    for s in samples:
        assert s.metadata["difficulty"] == KINDS.index(s.metadata["kind"]) + 1
        assert s.answer_type in ANSWER_TYPES and s.category == f"perception_{s.metadata['kind']}"
        assert s.prompt[0]["content"].startswith(IMAGE_PLACEHOLDER) and s.images[0].size == (112, 112)


def test_locate_answer_is_the_named_objects_centre_and_its_pixel_has_that_colour():
    checked = 0
    for s in (generate(seed) for seed in SEEDS):
        if s.metadata["kind"] != "locate":
            continue
        color, shape = re.search(r"centre of the (\w+) (\w+)\?", s.question).groups()
        (target,) = [o for o in s.metadata["elements"] if o["color"] == color and o["shape"] == shape]
        x, y = _xy(s.answer)
        assert (x, y) == (target["x"], target["y"])
        assert s.images[0].getpixel((x, y)) == PALETTE[color]
        checked += 1
    assert checked >= 15


def test_marked_answer_is_the_shape_inside_the_black_ring():
    for s in (generate(seed) for seed in SEEDS):
        if s.metadata["kind"] != "marked":
            continue
        (marked,) = [o for o in s.metadata["elements"] if o.get("marked")]
        assert s.answer == marked["shape"]
        ring = 0.48 * 112 / GRID
        left_of_centre = (round(marked["x"] - ring), marked["y"])
        assert s.images[0].getpixel(left_of_centre) == (0, 0, 0)
        others = [o for o in s.metadata["elements"] if not o.get("marked")]
        assert all(s.images[0].getpixel((round(o["x"] - ring), o["y"])) != (0, 0, 0) for o in others)
        assert len({o["shape"] for o in s.metadata["elements"]}) == len(s.metadata["elements"])


def test_vertex_answer_is_the_extreme_vertex_on_the_drawn_triangle():
    pick = {"top": lambda p: p[1], "bottom": lambda p: -p[1], "leftmost": lambda p: p[0]}
    for s in (generate(seed) for seed in SEEDS):
        if s.metadata["kind"] != "vertex":
            continue
        side = re.search(r"the (\w+) vertex", s.question).group(1)
        points = [(o["x"], o["y"]) for o in s.metadata["elements"]]
        expected = min(points, key=pick.get(side, lambda p: -p[0]))
        assert _xy(s.answer) == expected
        assert s.images[0].getpixel(expected) != BACKGROUND, "the outline passes through the vertex"


def test_gold_points_are_grid_points_so_exact_and_tolerant_scoring_agree():
    grid = {cell_centre(i, 112) for i in range(GRID)}
    for s in (generate(seed) for seed in SEEDS):
        if s.answer_type == "coordinates":
            assert set(_xy(s.answer)) <= grid
            assert is_equivalent(s.answer, s.answer, "coordinates")
            assert coordinates_close(s.answer.replace(" ", ""), s.answer, s.metadata["tolerance"])


def test_coordinates_close_uses_euclidean_tolerance():
    assert coordinates_close("(10, 10)", "(12, 14)", tolerance=8)
    assert coordinates_close("[10,10]", "(16, 16)", tolerance=8.5)
    assert not coordinates_close("(10, 10)", "(16, 16)", tolerance=8)
    assert not coordinates_close("10", "(10, 10)", tolerance=8)
    assert not coordinates_close("(a, b)", "(10, 10)", tolerance=8)
    assert not coordinates_close(None, "(10, 10)", tolerance=8)


def test_training_and_holdout_ranges_are_disjoint_and_guarded():
    train = PerceptionSource(num_samples=5)
    held = PerceptionSource(num_samples=5, seed_start=HOLDOUT_SEED_START, holdout=True)
    train_ids = {s.id for s in train.iter_samples()}
    held_ids = {s.id for s in held.iter_samples()}
    assert len(train_ids) == len(held_ids) == 5 and not train_ids & held_ids
    with pytest.raises(ConfigError, match="hold-out range"):
        PerceptionSource(num_samples=10, seed_start=HOLDOUT_SEED_START - 5)
    with pytest.raises(ConfigError, match="seed_start"):
        PerceptionSource(num_samples=10, seed_start=0, holdout=True)
    with pytest.raises(ConfigError, match="image_size"):
        PerceptionSource(image_size=32)


def test_corpus_covers_every_question_the_generator_asks():
    corpus = set(PerceptionSource().corpus())
    for s in (generate(seed) for seed in SEEDS):
        assert s.question.replace(IMAGE_PLACEHOLDER, "") in corpus


def test_perception_holdout_scores_points_within_tolerance_and_names_exactly():
    from vrl.benchmark.perception_holdout import PerceptionHoldout

    bench = PerceptionHoldout(num_samples=30)
    samples = list(bench.load())
    assert all(s.metadata["seed"] >= HOLDOUT_SEED_START for s in samples)
    point = next(s for s in samples if s.answer_type == "coordinates")
    name = next(s for s in samples if s.answer_type == "text")
    x, y = _xy(point.answer)
    near = bench.score(f"<answer>({x + 3}, {y - 4})</answer>", point)
    far = bench.score(f"<answer>({x + 12}, {y})</answer>", point)
    assert near.correct and not far.correct and near.extracted == f"({x + 3}, {y - 4})"
    assert bench.score(f"<answer>{name.answer.upper()}</answer>", name).correct
    assert not bench.score("<answer>hexagon</answer>", name).correct
    metrics = bench.metrics([(point, near), (name, far)])
    assert metrics["accuracy"] == 50.0 and f"accuracy/{point.metadata['kind']}" in metrics
