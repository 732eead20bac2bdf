"""The report's RL rollout section on sample directories a real run would not leave: no crash,
no section (the real section is tested on a real sweep in test_sweep_report.py)."""

from __future__ import annotations

import json

from vrl.report.samples import rollout_blocks
from vrl.report.sweep import Job, Sweep


def _sweep(tmp_path, files: dict[str, list[str]]) -> Sweep:
    jobs = []
    for name, names in files.items():
        samples = tmp_path / name / "rl" / "samples"
        samples.mkdir(parents=True)
        for file in names:
            row = {"group": 0, "prompt": "p", "answer": "a", "response": "r", "reward": 1.0, "advantage": 0.5}
            (samples / file).write_text(json.dumps(row) + "\n")
        jobs.append(Job(name, tmp_path / name, [], "finished"))
    return Sweep(tmp_path, jobs, ["rl"])


def test_step_files_not_named_by_a_step_give_no_section(tmp_path):
    sweep = _sweep(tmp_path, {"0": ["step_last.jsonl"], "1": ["step_x.jsonl"]})
    assert rollout_blocks(sweep, {"0": "a", "1": "b"}, tmp_path) == []


def test_jobs_without_a_common_step_give_no_section(tmp_path):
    sweep = _sweep(tmp_path, {"0": ["step_1.jsonl"], "1": ["step_2.jsonl"]})
    assert rollout_blocks(sweep, {"0": "a", "1": "b"}, tmp_path) == []


def test_a_common_step_gives_one_row_per_job(tmp_path):
    sweep = _sweep(tmp_path, {"0": ["step_1.jsonl", "step_3.jsonl"], "1": ["step_3.jsonl"]})
    blocks = rollout_blocks(sweep, {"0": "a", "1": "b"}, tmp_path)
    table = blocks[-1]
    assert [row[0] for row in table.rows] == ["a", "b"] and "step 4" in table.caption
    assert table.rows[0][3] == "1.00 / +0.50: r"
