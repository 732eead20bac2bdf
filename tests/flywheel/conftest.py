"""Shared fixtures: one real sandbox (auto backend) and one 2-round procedural flywheel run per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrl.flywheel import (
    Deduplicator,
    Flywheel,
    ProceduralCreator,
    ProceduralExtender,
    RuleChecker,
    RuleRepairer,
    TextEncoder,
)
from vrl.sandbox import make_sandbox


def small_flywheel(**overrides) -> Flywheel:
    """The `flywheel=procedural` strategy, shrunk so 2 rounds take seconds on CPU."""
    settings = dict(
        creator=ProceduralCreator(items_per_combination=2),
        checker=RuleChecker(),
        repairer=RuleRepairer(),
        extender=ProceduralExtender(),
        dedup=Deduplicator(TextEncoder(None)),
        combinations_per_round=16,
        workers=2,
    )
    return Flywheel(**{**settings, **overrides})


@pytest.fixture(scope="session")
def sandbox():
    box = make_sandbox(backend="auto", workers=2)
    yield box
    box.close()


@pytest.fixture(scope="session")
def two_rounds(tmp_path_factory, sandbox) -> tuple[Path, list[dict]]:
    """(work dir, per-round stats) of a real 2-round run from the built-in seeds."""
    work = tmp_path_factory.mktemp("flywheel")
    stats = small_flywheel().run(work, sandbox, rounds=2, seed=0)
    return work, stats
