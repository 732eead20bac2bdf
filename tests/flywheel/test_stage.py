"""The `flywheel` stage through `python -m vrl`: its dataset feeds SFT directly; configs check out."""

from __future__ import annotations

import json

import pytest
from vrl_testing import REPO, compose, run_vrl

from vrl.config_check import check_targets
from vrl.data.schema import Sample, hf_features


@pytest.mark.parametrize("option", ["procedural", "model"])
def test_flywheel_options_compose_and_match_their_constructors(option):
    cfg = compose([f"flywheel={option}", "stages=[flywheel,sft,eval]"])
    assert check_targets(cfg) > 0
    assert cfg.stage.flywheel._target_ == "vrl.stages.FlywheelSettings"


def test_the_stage_without_a_strategy_says_how_to_pick_one(tmp_path):
    result = run_vrl(
        ["stages=[flywheel]", f"hydra.run.dir={tmp_path / 'run'}", "logger=csv"], cwd=REPO, timeout=300
    )
    assert result.returncode == 2
    assert "the flywheel stage needs a flywheel: e.g. flywheel=procedural" in result.stderr


def test_the_stage_without_a_sandbox_says_how_to_add_one(tmp_path):
    args = ["stages=[flywheel]", "flywheel=procedural", f"hydra.run.dir={tmp_path / 'run'}", "logger=csv"]
    result = run_vrl(args, cwd=REPO, timeout=300)
    assert result.returncode == 2
    assert "the flywheel stage executes generated code: add sandbox=local" in result.stderr


@pytest.mark.slow
def test_flywheel_then_sft_in_one_run_and_resume_skips_it(tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "debug=smoke",
        "flywheel=procedural",
        "sandbox=local",
        "stages=[flywheel,sft]",
        "stage.flywheel.rounds=2",
        "stage.flywheel.val_size=8",
        "flywheel.combinations_per_round=8",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
    ]
    result = run_vrl(args, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    done = json.loads((run_dir / "flywheel" / "DONE.json").read_text())
    assert done["products"]["train_data"] == "flywheel/train"  # relative: a moved run dir uses its own
    assert (run_dir / "flywheel" / "report.md").is_file() and (run_dir / "flywheel" / "growth.png").is_file()
    assert (run_dir / "sft" / "model").is_dir()  # SFT trained on the flywheel's train_data

    from datasets import load_from_disk

    train = load_from_disk(str(run_dir / "flywheel" / "train"))
    assert set(hf_features()) <= set(
        train.features
    )  # the data stage's columns, plus code/trajectory/provenance
    sample = Sample.from_record(train[0])
    assert sample.source == "flywheel" and sample.images[0].size == (56, 56)
    assert json.loads(train[0]["provenance"])["creator"] == "procedural"

    again = run_vrl(args, cwd=REPO, timeout=600)
    assert again.returncode == 0
    assert "stage flywheel: finished earlier" in again.stderr + again.stdout


@pytest.mark.parametrize(
    ("preset", "creator", "sft"),
    [
        ("vthinker_7b_flywheel", "ModelCreator", "sft_interaction"),
        ("vthinker_tiny", "ProceduralCreator", "sft_flywheel"),
    ],
)
def test_vthinker_presets_run_the_flywheel_ahead_of_sft(preset, creator, sft, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = compose([f"+experiment={preset}"])
    assert check_targets(cfg) > 0
    assert cfg.flywheel.creator._target_ == f"vrl.flywheel.{creator}"
    stages = list(cfg.stages)
    assert stages.index("flywheel") < stages.index(sft)
    assert cfg.stage[sft].dataset == cfg.stage.flywheel.train_product
