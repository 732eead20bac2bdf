"""The `rl` stage composed from config and run by `python -m vrl` in a subprocess."""

from __future__ import annotations

import csv
import json

import pytest
from vrl_testing import REPO, compose, run_vrl

RL_ARGS = [
    "debug=smoke",
    "stages=[data,sft,rl,eval]",
    "reward=math_verify",
    "algorithm=grpo",
    "replay=ssr",
    "stage.rl.max_steps=2",
    "stage.rl.prompts_per_step=4",
    "stage.rl.group_size=4",
    "stage.rl.max_new_tokens=8",
    "logger=csv",
]


def test_rl_stage_composes_with_every_key_commented():
    cfg = compose(RL_ARGS)
    assert cfg.stage.rl._target_ == "vrl.stages.RLStage"
    assert cfg.algorithm._target_ == "vrl.algorithm.Algorithm"
    lines = (REPO / "conf" / "stage" / "rl.yaml").read_text().splitlines()
    keys = [line for line in lines if line and not line.startswith(("#", " ", "_target_"))]
    assert keys and all("#" in line for line in keys)


@pytest.mark.slow
def test_data_sft_rl_eval_run_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    result = run_vrl([*RL_ARGS, f"hydra.run.dir={run_dir}"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    done = json.loads((run_dir / "rl" / "DONE.json").read_text())
    assert done["products"]["model"] == str(run_dir / "rl" / "model")
    assert done["metrics"]["rl/steps"] == 2.0
    assert (run_dir / "rl" / "model" / "config.json").exists()
    assert (run_dir / "rl" / "checkpoints" / "last.ckpt").exists()
    assert "loading model from " + str(run_dir / "rl" / "model") in result.stderr + result.stdout
    [metrics_csv] = (run_dir / "rl" / "csv").rglob("metrics.csv")
    rows = list(csv.DictReader(metrics_csv.open()))
    assert len(rows) == 2
    for key in (
        "rollout/response_length_mean",
        "rollout/reward_mean",
        "reward/accuracy/mean",
        "replay/effective_ratio",
        "replay/buffer_size",
        "replay/replayed",
        "timing_s/rollout",
        "timing_s/reward",
        "timing_s/old_logprob",
        "timing_s/update",
        "perf/tokens_per_s",
    ):
        assert all(row[key] != "" for row in rows), key
