"""mix(): weighted, deterministic, finite sources dropped when they run out."""

from __future__ import annotations

from collections import Counter
from itertools import count, islice

import pytest

from vrl.data import DataSource, ProceduralSource, Sample, Skipped, mix
from vrl.errors import ConfigError


class Fake:
    """A cheap source: `size` samples (None = endless), every `skip_every`-th a Skipped."""

    def __init__(self, name: str, weight: float, size: int | None = None, skip_every: int = 0):
        self.name, self.weight, self.size, self.skip_every = name, weight, size, skip_every

    def corpus(self):
        return iter(())

    def iter_samples(self):
        for i in count() if self.size is None else range(self.size):
            if self.skip_every and i % self.skip_every == self.skip_every - 1:
                yield Skipped("missing_answer", f"{self.name}/{i}")
            else:
                yield Sample(id=f"{self.name}/{i}", images=[], prompt=[], answer="1", source=self.name)


def test_sources_satisfy_the_protocol():
    assert isinstance(ProceduralSource(num_samples=1), DataSource) and isinstance(Fake("a", 1), DataSource)


def test_proportions_follow_weights():
    items = list(mix([Fake("a", 3.0), Fake("b", 1.0), Fake("c", 0.0)], total=4000, seed=0))
    shares = Counter(i.source for i in items)
    assert shares["c"] == 0 and abs(shares["a"] / 4000 - 0.75) < 0.03


def test_deterministic_given_seed():
    def ids(seed):
        return [i.id for i in mix([Fake("a", 1), Fake("b", 2)], total=200, seed=seed)]

    assert ids(1) == ids(1) and ids(1) != ids(2)


def test_finite_source_is_dropped_and_the_rest_renormalised():
    items = list(mix([Fake("small", 10.0, size=20), Fake("big", 1.0, size=300)], total=None, seed=0))
    shares = Counter(i.source for i in items)
    assert shares == {"small": 20, "big": 300}  # everything is drawn, then the mix ends
    small_positions = [k for k, i in enumerate(items) if i.source == "small"]
    assert small_positions[-1] < 80  # the heavy source runs out early; "big" carries on alone


def test_total_counts_samples_not_skipped():
    items = list(mix([Fake("a", 1.0, skip_every=3)], total=10, seed=0))
    assert sum(isinstance(i, Sample) for i in items) == 10
    assert sum(isinstance(i, Skipped) for i in items) == 4


def test_procedural_mix_is_deterministic():
    def ids():
        sources = [ProceduralSource(families=["count"]), ProceduralSource(families=["chart"], seed_start=5)]
        return [s.id for s in islice(mix(sources, total=20, seed=3), 20)]

    assert ids() == ids()


def test_bad_weights():
    with pytest.raises(ConfigError, match="weight"):
        list(mix([Fake("a", -1.0)], total=1, seed=0))
    with pytest.raises(ConfigError, match="weight 0"):
        list(mix([Fake("a", 0.0)], total=1, seed=0))
    assert list(mix([], total=5, seed=0)) == []
