"""Shared fixtures: one real sandbox (auto backend) and one 2-round procedural flywheel run per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from flywheel_helpers import small_flywheel


@pytest.fixture(scope="session")
def two_rounds(tmp_path_factory, sandbox) -> tuple[Path, list[dict]]:
    """(work dir, per-round stats) of a real 2-round run from the built-in seeds."""
    work = tmp_path_factory.mktemp("flywheel")
    stats = small_flywheel().run(work, sandbox, rounds=2, seed=0)
    return work, stats
