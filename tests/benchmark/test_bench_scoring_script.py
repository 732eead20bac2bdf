"""scripts/bench_scoring.py runs (on a few hundred items) and reports a throughput."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_scoring.py"


def test_bench_scoring_runs(capsys):
    spec = importlib.util.spec_from_file_location("bench_scoring", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(200)
    assert result["items"] == 200 and result["items_per_s"] > 0
    out = capsys.readouterr().out
    assert "mathvista" in out and "total" in out
