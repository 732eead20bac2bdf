"""vthinker_tiny: perception SFT -> interaction SFT -> zoom_count_holdout, composed and run for real (shrunk)."""

from __future__ import annotations

import json

import pytest
from vrl_testing import REPO, compose, run_vrl

from vrl.benchmark.zoom_count_holdout import ZoomCountHoldout
from vrl.components import Components
from vrl.config_check import check_targets
from vrl.data.procedural import HOLDOUT_SEED_START
from vrl.data.procedural.perception import PerceptionSource
from vrl.errors import ConfigError
from vrl.stages import DataSettings, DataStage
from vrl.stages.base import StageContext

STAGES = [
    "data_perception",
    "sft_perception",
    "flywheel",
    "sft_flywheel",
    "data_interaction",
    "sft_interaction",
    "rl",
    "eval",
]
SHRINK = [
    "debug=smoke",
    "logger.wandb_mode=disabled",
    "trainer.enable_progress_bar=false",
    "stage.data_perception.train_size=24",
    "stage.data_perception.val_size=4",
    "stage.data_interaction.train_size=24",
    "stage.data_interaction.val_size=4",
    "stage.sft_perception.max_steps=2",
    "stage.sft_perception.warmup_steps=0",  # a warm-up must be shorter than the run
    "stage.sft_flywheel.warmup_steps=0",
    "stage.sft_interaction.warmup_steps=0",
    "stage.flywheel.rounds=1",
    "stage.flywheel.val_size=2",
    "flywheel.combinations_per_round=4",
    "stage.sft_flywheel.max_steps=2",
    "stage.sft_flywheel.batch_size=4",
    "stage.sft_interaction.max_steps=2",
    "stage.sft_perception.batch_size=4",
    "stage.sft_interaction.batch_size=4",
    "stage.rl.max_steps=2",
    "stage.rl.prompts_per_step=2",
    "stage.rl.group_size=2",
    "rollout.sampling.max_new_tokens=12",
    "benchmark.zoom_count_holdout.num_samples=6",
    "stage.eval.max_new_tokens=12",
]


def test_experiment_composes_with_two_data_and_two_sft_stages():
    cfg = compose(["+experiment=vthinker_tiny"])
    check_targets(cfg)
    assert list(cfg.stages) == STAGES and list(cfg.data) == ["perception", "interaction"]
    assert cfg.stage.data_perception.sources == ["perception"]
    assert cfg.stage.sft_perception.dataset == cfg.stage.data_perception.train_product
    assert cfg.stage.sft_interaction.dataset == cfg.stage.data_interaction.train_product
    assert cfg.stage.data_perception.train_product != cfg.stage.data_interaction.train_product
    assert cfg.objective == "eval/zoom_count_holdout/accuracy"
    assert cfg.rollout.tool_loop._target_ == "vrl.rollout.ToolLoop" and cfg.sandbox.backend == "auto"
    assert cfg.stage.rl.dataset == cfg.stage.data_interaction.train_product
    assert list(cfg.reward.weights) == ["format", "accuracy", "consistency", "code_exec"]
    # the same-budget baseline of experiments/thinking_with_images: only the tool differs
    baseline = compose(["+experiment=vthinker_tiny", "tool=none", "data.interaction.variant=direct"])
    check_targets(baseline)
    assert baseline.rollout.tool_loop is None and baseline.data.interaction.variant == "direct"
    assert baseline.stage == cfg.stage and baseline.reward == cfg.reward


def test_data_stage_names_unknown_sources(tmp_path):
    stage = DataStage(DataSettings(train_size=4, val_size=1, sources=["perception", "nope"]))
    context = StageContext(
        name="data_x",
        run_dir=tmp_path,
        components=Components(data={"perception": PerceptionSource()}),
        config={},
        seed=0,
    )
    with pytest.raises(ConfigError, match=r"stage.data_x.sources: \['nope'\]"):
        stage.check(context)


def test_holdout_benchmark_loads_unseen_seeds_and_scores_the_final_answer():
    bench = ZoomCountHoldout(num_samples=4)
    samples = list(bench.load())
    assert len(samples) == 4 and all(s.metadata["seed"] >= HOLDOUT_SEED_START for s in samples)
    assert all(s.response == [] and s.response_images == [] for s in samples)
    s = samples[0]
    tool = "<think>zoom</think><code>\n```python\nprint(1)\n```\n</code>"
    right = bench.score(f"{tool}<answer>{s.answer}</answer>", s)
    wrong = bench.score("<answer>9</answer>", s)
    none = bench.score("I cannot tell", s)
    assert right.correct and right.details["code"] and not wrong.correct and not wrong.details["code"]
    assert none.extracted is None and not none.correct
    metrics = bench.metrics([(s, right), (samples[1], wrong), (samples[2], none)])
    assert metrics["accuracy"] == pytest.approx(100 / 3) and metrics["code_rate"] == pytest.approx(100 / 3)
    assert metrics["chance"] == 25.0 and f"accuracy/{s.metadata['quadrant']}" in metrics


@pytest.mark.slow
def test_vthinker_tiny_runs_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    result = run_vrl(["+experiment=vthinker_tiny", *SHRINK, f"hydra.run.dir={run_dir}"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    done = {stage: json.loads((run_dir / stage / "DONE.json").read_text()) for stage in STAGES}
    assert done["data_perception"]["products"] == {  # relative to the run dir
        "perception_train": "data_perception/train",
        "perception_val": "data_perception/val",
    }
    assert set(done["data_interaction"]["products"]) == {"interaction_train", "interaction_val"}
    assert done["sft_interaction"]["products"]["model"] == "sft_interaction/model"
    log = (run_dir / "vthinker_tiny.log").read_text()  # the job log carries the run's name
    assert f"stage sft_flywheel: loading model from {run_dir / 'sft_perception' / 'model'}" in log
    assert f"stage sft_interaction: loading model from {run_dir / 'sft_flywheel' / 'model'}" in log
    assert set(done["flywheel"]["products"]) == {"flywheel_train", "flywheel_val", "flywheel_pools"}
    from datasets import load_from_disk

    interaction = load_from_disk(str(run_dir / "data_interaction" / "train"))
    assert len(interaction) == 24 and all(len(row["response_images"]) == 1 for row in interaction)
    items = (run_dir / "eval" / "zoom_count_holdout" / "items.jsonl").read_text().splitlines()
    assert len(items) == 6
    assert "eval/zoom_count_holdout/accuracy" in done["eval"]["metrics"]
    # GRPO and eval ran through the multi-turn tool loop (the 2-step model rarely calls it; the
    # trained one does: experiments/thinking_with_images)
    assert done["rl"]["products"]["model"] == "rl/model"
    assert f"stage rl: loading model from {run_dir / 'sft_interaction' / 'model'}" in log
    header = (run_dir / "rl" / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"tool/traj_with_call_frac", "tool/error_rate", "reward/code_exec/mean"} <= set(header)
    for key in ("tool/traj_with_call_pct", "tool/error_pct", "tool/calls_per_item"):
        assert f"eval/zoom_count_holdout/{key}" in done["eval"]["metrics"]
