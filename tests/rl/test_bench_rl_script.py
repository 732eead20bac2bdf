"""`scripts/bench_rl_vs_trl.py` runs both trainers for real (one tiny step each) and prints the ratio."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from vrl_testing import REPO

SCRIPT = REPO / "scripts" / "bench_rl_vs_trl.py"


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_one_step_each_prints_a_ratio_and_writes_results(tmp_path):
    pytest.importorskip(
        "trl", reason="the benchmark's TRL side needs the `bench` extra (pip install -e .[bench])"
    )
    out = tmp_path / "bench"
    result = _run(
        [
            "--steps=1",
            "--prompts=2",
            "--group-size=2",
            "--max-new-tokens=4",
            "--reward-workers=0",  # inline rewards: no worker start-up in a 1-step smoke run
            "--order=vrl,trl,vrl_hf",
            f"--out={out}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"^ratio vrl/trl \(median step, steps 2\.\.N\): (\d+\.\d+)x$", result.stdout, re.M)
    assert match, result.stdout[-2000:]
    report = json.loads((out / "results.json").read_text())
    assert [run["side"] for run in report["runs"]] == ["vrl", "trl", "vrl_hf"]
    for run in report["runs"]:
        assert run["steps"] == 1
        assert run["median_step_s"] > 0
        assert 1 <= run["response_length_mean"] <= 4  # the length cap reached both trainers
    assert {"rollout", "old_logprob", "update"} <= set(report["runs"][0]["phase_median_s"])
    assert {"generate", "training_step"} <= set(report["runs"][1]["phase_median_s"])
    ratio = report["median_step_s"]["vrl"] / report["median_step_s"]["trl"]
    assert float(match.group(1)) == pytest.approx(ratio, abs=0.006)
    assert re.search(r"^ratio vrl_hf/trl \(median step, steps 2\.\.N\): \d+\.\d+x$", result.stdout, re.M)
    assert report["ratio_vrl_hf_over_trl"] > 0
    assert report["environment"]["trl"] and "load average" in report["environment"]["uptime"]


def test_bad_order_is_a_one_line_usage_error():
    result = _run(["--order=vrl,verl"])
    assert result.returncode == 2
    assert "--order 'vrl,verl': use a comma list of vrl, vrl_hf, vrl_overlap, trl" in result.stderr
    assert "Traceback" not in result.stderr
