"""Session fixtures shared by the top-level tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from vrl_testing import REPO, run_vrl


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One real `python -m vrl debug=smoke` run shared by the end-to-end tests."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    result = run_vrl(["debug=smoke", f"hydra.run.dir={run_dir}"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    return run_dir, result


@pytest.fixture(scope="session")
def sandbox():
    """One real sandbox (the strongest backend here, one-shot calls) for tests that just run code."""
    from vrl.sandbox import make_sandbox

    box = make_sandbox(backend="auto", workers=2)
    yield box
    box.close()
