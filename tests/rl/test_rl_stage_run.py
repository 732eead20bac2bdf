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
    "rollout.sampling.max_new_tokens=8",
    "logger=csv",
]


def test_rl_stage_composes_to_its_settings_and_the_rollout_owns_sampling():
    from hydra.utils import instantiate

    from vrl.rl.settings import RLSettings

    cfg = compose(RL_ARGS)
    settings = instantiate(cfg.stage.rl)
    assert isinstance(settings, RLSettings)
    assert (settings.max_steps, settings.prompts_per_step, settings.group_size) == (2, 4, 4)
    assert cfg.algorithm._target_ == "vrl.algorithm.Algorithm"
    assert cfg.rollout.sampling.max_new_tokens == 8
    assert not {"temperature", "top_p", "max_new_tokens"} & set(cfg.stage.rl), "sampling lives in rollout"


@pytest.mark.slow
def test_data_sft_rl_eval_run_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    result = run_vrl([*RL_ARGS, f"hydra.run.dir={run_dir}"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    done = json.loads((run_dir / "rl" / "DONE.json").read_text())
    assert done["products"]["model"] == "rl/model"  # relative to the run dir
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
