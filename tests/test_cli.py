"""The command line as a user meets it: Hydra's flags work, mistakes get one line and exit 2."""

from __future__ import annotations

import pytest
from vrl_testing import REPO, run_vrl


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model=no_such_model"], "unknown option 'no_such_model' for 'model' (available:"),
        (["+experiment=nope"], "unknown option 'nope' for 'experiment'"),
        (["stage.sft.learning_rat=1"], "unknown config key 'stage.sft.learning_rat'"),
        (["stage.sft.max_steps=lots"], "'stage.sft.max_steps' should be int, got 'lots'"),
        (["stage.sft.lr=???"], "missing required value 'stage.sft.lr'"),
        (["stages=[data,train]"], "stages lists 'train' but stage.train is not configured"),
        (["model=qwen2_5_vl_7b", "model.path=/no/such/checkpoint", "stages=[eval]"], "model.path"),
        (["data=[jsonl]", "data.jsonl.path=/no/such/file.jsonl", "stages=[data]"], "/no/such/file.jsonl"),
        (["stages=[eval]", "products.model=/no/such/dir"], "/no/such/dir"),
        (["stage.sft.lr=[1,"], "cannot parse an override"),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, expected):
    result = run_vrl(
        [*args, f"hydra.run.dir={tmp_path / 'run'}", "logger.wandb_mode=disabled"], cwd=REPO, timeout=120
    )
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("vrl: error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert expected in errors[0], errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("inherited", [{"LOCAL_RANK": "1", "RANK": "1"}, {"LOCAL_RANK": "0"}])
def test_an_inherited_local_rank_does_not_make_a_run_a_spawned_rank(tmp_path, inherited):
    """A caller's LOCAL_RANK (a test runner or notebook that ran Lightning, a shell in a torchrun
    job) once made `python -m vrl` skip restoring a run dir's overrides and, at LOCAL_RANK=1, swallow
    its one-line error: CI's resume tests then ran the defaults into a smoke run's dir."""
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- stage.sft.max_steps=lots\n")
    result = run_vrl(
        [f"hydra.run.dir={run_dir}", "logger.wandb_mode=disabled"], cwd=REPO, timeout=120, env=inherited
    )
    assert "vrl: resuming with the run's own overrides: stage.sft.max_steps=lots" in result.stderr, (
        result.stderr
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("vrl: error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert "'stage.sft.max_steps' should be int, got 'lots'" in errors[0]


def test_help_lists_groups():
    result = run_vrl(["--help"], cwd=REPO, timeout=60)
    assert result.returncode == 0
    assert "vrl: declarative RL" in result.stdout
    for group in ("model", "data", "benchmark", "rollout", "trainer"):
        assert f"{group}:" in result.stdout


def test_cfg_job_prints_the_composed_config():
    result = run_vrl(["--cfg", "job", "+experiment=default"], cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "_target_: vrl.sft.settings.SFTSettings" in result.stdout
    assert "  lr: 0.001" in result.stdout and "weight_decay: 0.0" in result.stdout  # typed defaults shown
    assert "stages:" in result.stdout


def test_info_runs():
    result = run_vrl(["--info"], cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Config search path" in result.stdout
