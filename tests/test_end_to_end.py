"""`python -m vrl` for real, in a subprocess, on the shrunk default (debug=smoke)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from vrl_testing import REPO, run_vrl

pytestmark = pytest.mark.slow


def test_smoke_run_writes_every_product(smoke_run):
    run_dir, result = smoke_run
    from datasets import Image, load_from_disk

    train = load_from_disk(str(run_dir / "data" / "train"))
    assert len(train) == 48 and isinstance(train.features["images"].feature, Image)
    assert len(load_from_disk(str(run_dir / "data" / "val"))) == 8
    assert (run_dir / "sft" / "checkpoints" / "last.ckpt").exists()
    model_dir = run_dir / "sft" / "model"
    assert (model_dir / "config.json").exists() and list(model_dir.glob("*.safetensors"))
    rl_model = run_dir / "rl" / "model"  # rl continues from sft's model; eval reads rl's
    assert (rl_model / "config.json").exists()
    assert "loading model from " + str(rl_model) in result.stderr + result.stdout
    items = [
        json.loads(line)
        for line in (run_dir / "eval" / "procedural_holdout" / "items.jsonl").read_text().splitlines()
    ]
    assert len(items) == 16 and {"response", "extracted", "correct"} <= set(items[0])
    summary = (run_dir / "eval" / "summary.csv").read_text()
    assert "procedural_holdout,accuracy," in summary
    assert list((run_dir / "wandb").glob("offline-run-*")), "W&B offline run dirs missing"
    assert (run_dir / "sft" / "csv" / "metrics.csv").exists()
    assert list((run_dir / "plots").glob("*.png"))
    assert (run_dir / "plots" / "rl_dashboard.png").is_file() and "rl_dashboard.png" in (
        run_dir / "summary.md"
    ).read_text()
    text = (run_dir / "summary.md").read_text()
    for stage in ("data", "sft", "rl", "eval"):
        assert f"| {stage} | ran |" in text
    for stage in ("data", "sft", "rl", "eval"):
        assert json.loads((run_dir / stage / "DONE.json").read_text())["seconds"] > 0


def test_smoke_run_shows_rollout_and_eval_samples_kept_inside_the_run_dir(smoke_run):
    from vrl.rl.samples import COLUMNS as SAMPLE_COLUMNS
    from vrl.stages.eval_items import COLUMNS as ITEM_COLUMNS

    run_dir, result = smoke_run
    (table_file,) = (run_dir / "rl" / "samples").glob("step_*.jsonl")  # the last step of a short run
    rows = [json.loads(line) for line in table_file.read_text().splitlines()]
    assert rows and all(list(row) == SAMPLE_COLUMNS for row in rows)
    assert all((run_dir / "rl" / "samples" / path).is_file() for row in rows for path in row["images"])
    assert all("accuracy" in row["reward_parts"] for row in rows)
    assert f"rl step {table_file.stem.split('_')[1]} sample " in result.stderr + result.stdout, (
        "one sample on the console"
    )

    def wandb_table(key: str) -> dict:
        (path,) = (run_dir / "wandb").glob(f"offline-run-*/files/media/table/{key}_*.table.json")
        return json.loads(path.read_text())

    samples = wandb_table("rl/samples")
    assert samples["columns"] == SAMPLE_COLUMNS and len(samples["data"]) == len(rows)
    items = wandb_table("eval/procedural_holdout/items")
    assert items["columns"] == ITEM_COLUMNS and len(items["data"]) == 16, "every item, right or wrong"
    correct = {row[0]: row[ITEM_COLUMNS.index("correct")] for row in items["data"]}
    scored = [
        json.loads(line)
        for line in (run_dir / "eval" / "procedural_holdout" / "items.jsonl").read_text().splitlines()
    ]
    assert correct == {item["id"]: item["correct"] for item in scored}
    assert len(list((run_dir / "eval" / "procedural_holdout" / "images").glob("*.png"))) == 16
    assert list((run_dir / "wandb" / "data").rglob("*")), "W&B's staged table files stay in the run dir"


def test_smoke_run_terminal_is_quiet_and_the_job_log_keeps_everything(smoke_run):
    from vrl.console import QUIET

    run_dir, result = smoke_run
    terminal = result.stdout + result.stderr
    noise = ["srun", "LeafSpec", "weights_only", "Tip: For seamless", "anonymous setting", "GPU available"]
    noise += ["Saving the dataset", "Loading weights", "Writing model shards", "Epoch 0/-2", "/--"]
    assert [n for n in noise if n in terminal] == [], "third-party chatter on the terminal"
    assert all(reason for _, _, reason in QUIET), "every filtered line has its reason"
    job_log = (run_dir / "default.log").read_text()
    assert "GPU available" in job_log and "stage rl: done" in job_log, "the job log keeps every line"
    assert job_log.count("stage sft: done") == 1
    assert "eval/procedural_holdout/accuracy=" in terminal and "rollout/reward_mean=" in terminal, (
        "headline metrics"
    )


def test_rerun_skips_finished_stages(smoke_run):
    run_dir, _ = smoke_run
    result = run_vrl(["debug=smoke", f"hydra.run.dir={run_dir}"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    text = (run_dir / "summary.md").read_text()
    for stage in ("data", "sft", "rl", "eval"):
        assert f"| {stage} | skipped (done) |" in text


def test_eval_alone_on_a_given_checkpoint(smoke_run, tmp_path):
    run_dir, _ = smoke_run
    out = tmp_path / "eval_only"
    result = run_vrl(
        [
            "debug=smoke",
            "stages=[eval]",
            f"products.model={run_dir / 'sft' / 'model'}",
            f"hydra.run.dir={out}",
        ],
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (out / "sft").exists() and not (out / "model_init").exists()
    first = (run_dir / "eval" / "procedural_holdout" / "items.jsonl").read_text()
    again = (out / "eval" / "procedural_holdout" / "items.jsonl").read_text()
    assert first == again, "greedy eval of the same checkpoint must reproduce the same items"


def test_killed_sft_resumes_from_its_checkpoint(tmp_path):
    """kill -9 mid-training, run again: training continues from the last checkpoint to max_steps."""
    run_dir = tmp_path / "run"
    args = [
        "debug=smoke",
        "stage.sft.max_steps=400",
        "stage.sft.save_every_n_steps=2",
        "stages=[data,sft]",
        f"hydra.run.dir={run_dir}",
        "logger.wandb_mode=disabled",
        "trainer.enable_progress_bar=false",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "vrl", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    last = run_dir / "sft" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while time.time() < deadline and not last.exists():
        time.sleep(0.5)
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert last.exists(), "no checkpoint was written before the deadline"
    import torch

    step_at_kill = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < step_at_kill < 400
    assert not (run_dir / "sft" / "DONE.json").exists()

    changed = [*args[:1], "stage.sft.max_steps=" + str(step_at_kill + 4), *args[2:]]
    refused = run_vrl(changed, cwd=REPO)  # other settings than the run was made with: one line
    assert refused.returncode != 0 and "stage.sft.max_steps" in refused.stderr, refused.stderr[-3000:]
    assert "Traceback" not in refused.stderr
    result = run_vrl([*changed, "accept_changes=true"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stdout + result.stderr
    done = json.loads((run_dir / "sft" / "DONE.json").read_text())
    assert done["metrics"]["sft/steps"] == step_at_kill + 4
    assert "skipping" in result.stdout + result.stderr  # the data stage was already done


def test_two_job_sweep_through_submitit_local(tmp_path):
    result = run_vrl(
        [
            "-m",
            "+sweeps=sft_lr",
            "debug=smoke",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "hydra.launcher.timeout_min=10",
        ],
        cwd=REPO,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    lrs, groups, names = set(), set(), set()
    for job in jobs:
        assert (job / "summary.md").exists(), f"job {job.name} did not finish"
        config = (job / ".hydra" / "config.yaml").read_text()
        lrs.add(
            next(line for line in config.splitlines() if line.strip().startswith("lr:")).split(":")[1].strip()
        )
        identity = json.loads((job / "sft" / "wandb_run.json").read_text())
        run_file = next((job / "wandb").glob(f"offline-run-*-{identity['id']}/run-*.wandb"))
        assert identity["group"].encode() in run_file.read_bytes(), "W&B did not record the group"
        groups.add(identity["group"])
        names.add(identity["name"])
        assert identity["name"].encode() in run_file.read_bytes(), "W&B did not record the name"
    assert lrs == {"0.001", "0.003"}
    assert names == {f"lr={lr}/sft" for lr in lrs}, "each job's W&B name carries its swept value"
    for job in jobs:  # the user's command, not submitit's wrapper
        assert "python -m vrl -m +sweeps=sft_lr debug=smoke" in (job / "summary.md").read_text()
    assert len(groups) == 1 and next(iter(groups)).startswith("sft_lr-sweep-"), groups
    # The sweep's end (SweepReport callback, in this process, after submitit's jobs): the report.
    report = tmp_path / "sweep" / "report"
    assert f"sweep report: {report / 'report.html'}" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] in (["0"], ["1"])]
    assert [row[:3] for row in rows[-2:]] == [["0", "0.001", "finished"], ["1", "0.003", "finished"]]
    assert (report / "report.md").is_file() and list(report.glob("sft_*.png"))
