"""Interleave several data sources by weight.

A data source is anything with `name`, `weight` and `iter_samples()` (see `DataSource`):
`ProceduralSource`, `HFSource`, `JsonlSource`, `ParquetSource`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from vrl.errors import ConfigError

from .schema import Sample, Skipped


@runtime_checkable
class DataSource(Protocol):
    """What `mix` and the data stage need from a source."""

    name: str  # used in logs and reports
    weight: float  # relative share in a mixture; 0 leaves the source out

    def iter_samples(self) -> Iterator[Sample | Skipped]: ...

    def corpus(self) -> Iterator[str]:
        """Texts a generator will show the model (its templates), for a tokenizer built
        locally; empty for sources of recorded data (their texts are read from the dataset)."""
        ...


def mix(sources: Sequence[DataSource], total: int | None = None, seed: int = 0) -> Iterator[Sample | Skipped]:
    """Draw items from `sources`, each draw picking a source with probability proportional to its weight.

    Deterministic given `seed` (and deterministic sources). `total` counts `Sample`s, not the
    `Skipped` records passed through on the way; None = until every source is exhausted. A
    finite source that runs out is dropped and the draw renormalises over the rest.
    """
    if total is not None and total < 0:
        raise ConfigError(f"total: {total} is negative; use a count >= 0 or null for all")
    for source in sources:
        if source.weight < 0:
            raise ConfigError(f"weight: source {source.name!r} has weight {source.weight}; use a share >= 0")
    active = [(source.weight, iter(source.iter_samples())) for source in sources if source.weight > 0]
    if sources and not active:
        raise ConfigError("data: every source has weight 0; give at least one a positive weight")
    rng = random.Random(seed)
    produced = 0
    while active and (total is None or produced < total):
        (pick,) = rng.choices(range(len(active)), weights=[weight for weight, _ in active])
        try:
            item = next(active[pick][1])
        except StopIteration:
            del active[pick]
            continue
        if isinstance(item, Sample):
            produced += 1
        yield item
