"""The `flywheel=procedural` strategy shrunk for tests (a module of its own: `conftest` names clash
across test folders when the whole suite runs)."""

from __future__ import annotations

from vrl.flywheel import (
    Deduplicator,
    Flywheel,
    ProceduralCreator,
    ProceduralExtender,
    RuleChecker,
    RuleRepairer,
    TextEncoder,
)


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
