"""`ProceduralSource`: a deterministic stream of procedural samples over a seed range."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from vrl.errors import ConfigError

from ..schema import IMAGE_PLACEHOLDER, Sample, Skipped
from .base import MIN_IMAGE_SIZE
from .registry import TASK_FAMILIES, generate, get_family
from .seed_range import check_seed_range, seed_range


class ProceduralSource:
    """Samples for seeds `seed_start, seed_start + 1, ...`; seed `s` is of family `families[s % len]`.

    Round-robin over the families keeps every family equally represented in any window of
    seeds. Training sources (`holdout=False`) must stay below `HOLDOUT_SEED_START`; an
    unlimited one stops there. Hold-out sources (`holdout=True`) must start at or above it.

    Args:
        families: task families to draw from; None = all of `TASK_FAMILIES`.
        num_samples: how many samples; None = unlimited (training: up to the hold-out range).
        seed_start: the first seed.
        image_size: image side in pixels (>= 32; object sizes scale with it).
        weight: relative share of this source in a mixture.
        holdout: this source is for evaluation and reads the hold-out seed range.
    """

    name = "procedural"

    def __init__(
        self,
        families: Sequence[str] | None = None,
        num_samples: int | None = None,
        seed_start: int = 0,
        image_size: int = 56,
        weight: float = 1.0,
        holdout: bool = False,
    ):
        if isinstance(families, str):
            families = [families]
        self.families = list(TASK_FAMILIES) if families is None else [str(f) for f in families]
        if not self.families:
            raise ConfigError(
                f"families: empty list; use null for all or some of: {', '.join(TASK_FAMILIES)}"
            )
        for family in self.families:
            get_family(family)
        check_seed_range(seed_start, num_samples, holdout)
        if image_size < MIN_IMAGE_SIZE:
            raise ConfigError(
                f"image_size: {image_size} is too small to see the objects; use >= {MIN_IMAGE_SIZE}"
            )
        if weight < 0:
            raise ConfigError(f"weight: {weight} is negative; use a relative share >= 0")
        self.num_samples = num_samples
        self.seed_start = seed_start
        self.image_size = image_size
        self.weight = float(weight)
        self.holdout = holdout

    def seeds(self) -> Iterable[int]:
        """The seeds this source reads, in order (a `range`, or endless for an unlimited hold-out source)."""
        return seed_range(self.seed_start, self.num_samples, self.holdout)

    def iter_samples(self) -> Iterator[Sample | Skipped]:
        for seed in self.seeds():
            yield generate(self.families[seed % len(self.families)], seed, self.image_size)

    def corpus(self) -> Iterator[str]:
        """Every question (without the image placeholder), answer and option text these families use."""
        seen: set[str] = set()
        for family in self.families:
            task = get_family(family)
            for text in (task.question.replace(IMAGE_PLACEHOLDER, ""), *task.answers, *task.choice_texts):
                if text not in seen:
                    seen.add(text)
                    yield text
