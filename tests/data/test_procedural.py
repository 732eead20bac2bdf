"""Procedural task families: determinism, validity, answers that match the pixels, seed ranges."""

from __future__ import annotations

from collections import Counter, deque

import numpy as np
import pytest

from vrl.data.procedural import (
    FAMILIES,
    HOLDOUT_SEED_START,
    TASK_FAMILIES,
    ProceduralSource,
    chance_accuracy,
    generate,
)
from vrl.data.procedural.base import BACKGROUND, COLORS, PALETTE
from vrl.data.schema import ANSWER_TYPES, IMAGE_PLACEHOLDER, Sample
from vrl.errors import ConfigError

SEEDS = range(120)


def _same(a: Sample, b: Sample) -> bool:
    return (a.images[0].tobytes(), a.answer, a.choices, a.metadata, a.prompt) == (
        b.images[0].tobytes(),
        b.answer,
        b.choices,
        b.metadata,
        b.prompt,
    )


def test_families_are_the_documented_six():
    assert TASK_FAMILIES == ("count", "color", "shape", "spatial", "chart", "geometry")


@pytest.mark.parametrize("family", TASK_FAMILIES)
def test_same_seed_same_sample_and_seeds_differ(family):
    assert _same(generate(family, 7), generate(family, 7))
    images = {generate(family, seed).images[0].tobytes() for seed in range(20)}
    assert len(images) >= 15


@pytest.mark.parametrize("family", TASK_FAMILIES)
def test_every_seed_gives_a_valid_sample(family):
    task = FAMILIES[family]
    answers = Counter()
    for seed in SEEDS:
        sample = generate(family, seed)
        answers[sample.answer] += 1
        assert sample.id == f"procedural/{family}/{seed}"
        assert sample.answer in task.answers
        assert sample.answer_type == task.answer_type and sample.answer_type in ANSWER_TYPES
        assert sample.category == family and sample.source == "procedural"
        assert sample.prompt == [{"role": "user", "content": IMAGE_PLACEHOLDER + task.question}]
        (image,) = sample.images
        assert image.size == (56, 56) and image.mode == "RGB"
        assert (np.asarray(image) != BACKGROUND).any(axis=2).sum() > 100  # something big enough is drawn
        assert sample.metadata["seed"] == seed and sample.metadata["family"] == family
        assert sample.metadata["difficulty"] in (1, 2, 3)
        if sample.answer_type == "choice":
            assert len(sample.choices) == len(task.answers) and set(sample.choices) <= set(task.choice_texts)
        else:
            assert sample.choices == []
    assert set(answers) == set(task.answers)  # every answer occurs, none dominates
    assert max(answers.values()) < 0.5 * len(SEEDS)


@pytest.mark.parametrize("size", [32, 112])
def test_image_size_scales(size):
    for family in TASK_FAMILIES:
        for seed in range(10):
            assert generate(family, seed, image_size=size).images[0].size == (size, size)


def test_too_small_image_is_a_config_error():
    with pytest.raises(ConfigError, match="image_size"):
        ProceduralSource(image_size=16)


def _components(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    seen = np.zeros_like(mask)
    found = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        queue, pixels = deque([start]), []
        while queue:
            y, x = queue.popleft()
            pixels.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        found.append(pixels)
    return found


def _near(pixels: np.ndarray, color: str, tol: int = 40) -> np.ndarray:
    return (np.abs(pixels.astype(int) - np.array(PALETTE[color])) <= tol).all(axis=2)


def test_count_answer_matches_the_circles_drawn():
    for seed in range(30):
        sample = generate("count", seed)
        mask = (np.asarray(sample.images[0]) != BACKGROUND).any(axis=2)
        blobs = [b for b in _components(mask) if len(b) > 30]  # ignore antialiasing specks
        assert len(blobs) == int(sample.answer), seed


def test_color_answer_is_the_dominant_colour():
    for seed in range(30):
        sample = generate("color", seed)
        pixels = np.asarray(sample.images[0])
        counts = {color: _near(pixels, color).sum() for color in COLORS}
        assert max(counts, key=counts.get) == sample.answer, seed


def test_spatial_answer_matches_centroids():
    for seed in range(40):
        sample = generate("spatial", seed)
        pixels = np.asarray(sample.images[0])
        (ry, rx), (by, bx) = (np.argwhere(_near(pixels, c)).mean(axis=0) for c in ("red", "blue"))
        dx, dy = rx - bx, ry - by
        expected = ("left" if dx < 0 else "right") if abs(dx) > abs(dy) else ("above" if dy < 0 else "below")
        assert sample.answer == expected, seed


def test_chart_answer_is_the_tallest_bar_and_choices_its_colours():
    for seed in range(40):
        sample = generate("chart", seed)
        pixels = np.asarray(sample.images[0])
        heights = [
            _near(pixels, color, tol=10).sum() for color in sample.choices
        ]  # equal widths: area ~ height
        assert "ABCD"[int(np.argmax(heights))] == sample.answer, seed


def test_chance_accuracy():
    expected = {
        "count": 1 / 4,
        "color": 1 / 6,
        "shape": 1 / 4,
        "spatial": 1 / 4,
        "chart": 1 / 4,
        "geometry": 1 / 4,
    }
    assert {f: chance_accuracy(f) for f in TASK_FAMILIES} == pytest.approx(expected)


def test_unknown_family_names_families_and_lists_valid_ones():
    for build in (lambda: ProceduralSource(families=["count", "colour"]), lambda: generate("colour", 0)):
        with pytest.raises(ConfigError) as error:
            build()
        message = str(error.value)
        assert "families" in message and "colour" in message and all(f in message for f in TASK_FAMILIES)
        assert "\n" not in message


def test_source_is_deterministic_and_round_robin():
    source = ProceduralSource(num_samples=60)
    first = list(source.iter_samples())
    second = list(ProceduralSource(num_samples=60).iter_samples())
    assert all(_same(a, b) for a, b in zip(first, second)) and len(first) == 60
    assert Counter(s.category for s in first) == {f: 10 for f in TASK_FAMILIES}
    one = ProceduralSource(families=["chart"], num_samples=5, seed_start=100)
    assert [s.id for s in one.iter_samples()] == [f"procedural/chart/{s}" for s in range(100, 105)]


def test_training_sources_never_reach_the_holdout_range():
    assert ProceduralSource().seeds()[-1] == HOLDOUT_SEED_START - 1  # unlimited stops before it
    ProceduralSource(seed_start=HOLDOUT_SEED_START - 10, num_samples=10)  # ends just below: fine
    for kwargs in (
        {"seed_start": HOLDOUT_SEED_START - 10, "num_samples": 11},
        {"seed_start": HOLDOUT_SEED_START},
        {"seed_start": 0, "holdout": True},
        {"seed_start": -1},
        {"num_samples": -1},
    ):
        with pytest.raises(ConfigError):
            ProceduralSource(**kwargs)


def test_holdout_source_reads_holdout_seeds():
    source = ProceduralSource(seed_start=HOLDOUT_SEED_START, num_samples=12, holdout=True)
    samples = list(source.iter_samples())
    assert all(s.metadata["seed"] >= HOLDOUT_SEED_START for s in samples)
    assert {s.category for s in samples} == set(TASK_FAMILIES)


def test_corpus_covers_questions_answers_and_choices():
    corpus = list(ProceduralSource().corpus())
    assert len(corpus) == len(set(corpus))
    for task in FAMILIES.values():
        assert task.question in corpus
        assert set(task.answers) <= set(corpus) and set(task.choice_texts) <= set(corpus)
    assert not any(IMAGE_PLACEHOLDER in text for text in corpus)
    only_count = list(ProceduralSource(families=["count"]).corpus())
    assert only_count == [FAMILIES["count"].question, "1", "2", "3", "4"]
