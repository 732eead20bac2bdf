"""`python -m vrl.report` on paths that are not a sweep: one line on stderr, exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from vrl_testing import REPO


def report(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vrl.report", str(path)], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: tmp / "nowhere", "is not a directory"),
        (lambda tmp: tmp, "holds no sweep jobs"),
        (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt", "is not a directory"),
    ],
    ids=["missing", "empty", "a-file"],
)
def test_not_a_sweep_is_one_line(tmp_path, make, says):
    path = make(tmp_path)
    (tmp_path / "run" / "sft").mkdir(parents=True)  # a directory that is not a job: no record in it
    result = report(path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vrl.report: error: ") and says in lines[0], result.stderr
    assert str(path) in lines[0]


def test_no_argument_is_usage():
    result = subprocess.run(
        [sys.executable, "-m", "vrl.report"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "usage: python -m vrl.report" in result.stderr
    assert "Traceback" not in result.stderr
