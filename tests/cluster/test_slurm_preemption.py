"""A sweep job interrupted mid-RL by SLURM comes back in the same run dir and finishes: no RL step
repeated or skipped, the finished stages kept, and the Hydra launcher waits for the requeued job
and returns its result. Interruptions: `scontrol requeue` (SIGTERM, then SLURM restarts the
job), submitit's signal (`scancel --signal=USR2`: vrl checkpoints, submitit requeues) and the
wall-time limit (USR2 `signal_delay_s` before it, the same path; `max_num_timeout` requeues)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vrl_testing import REPO

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
RL_STEPS = 12
RL_STEPS_PAST_THE_LIMIT = 60  # ~3 s a step: RL alone outlasts the 3-minute limit


def _rl_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "rl" / "csv" / "metrics.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle) if row.get("train/rl_step")]


@pytest.mark.parametrize("how", ["requeue", "usr2", "timeout"])
def test_job_interrupted_mid_rl_finishes_in_the_same_run_dir(slurm_env, tmp_path, how):
    sweep = tmp_path / "sweep"
    steps = RL_STEPS_PAST_THE_LIMIT if how == "timeout" else RL_STEPS
    args = [
        sys.executable,
        "-m",
        "vrl",
        "-m",
        "debug=smoke",
        "stages=[data,sft,rl]",
        f"stage.rl.max_steps={steps}",
        "hydra/launcher=slurm_cpu",
        "logger.wandb_mode=offline",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=2",
        f"hydra.sweep.dir={sweep}",
    ]
    if how == "timeout":
        # A 3-minute limit, USR2 30 s before it: SLURM checks signals about once a minute, so it
        # comes 90-150 s in (a 1-minute limit signalled while SFT was still loading, every time).
        args += [
            "hydra.launcher.timeout_min=3",
            "hydra.launcher.signal_delay_s=30",
            "hydra.launcher.max_num_timeout=5",
        ]
    else:
        args += ["hydra.launcher.timeout_min=15"]
    launcher = subprocess.Popen(
        args, cwd=REPO, env=slurm_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    run_dir = sweep / "0"
    job = None
    if how != "timeout":
        ckpt = run_dir / "rl" / "checkpoints" / "last.ckpt"
        deadline = time.time() + 400
        while time.time() < deadline and launcher.poll() is None and not ckpt.exists():
            time.sleep(0.5)
        assert ckpt.exists(), "no RL checkpoint before the deadline"
        # A sweep of one job is submitted as a plain job: submitit's folder is named by its id.
        job = next(p.name for p in (sweep / ".submitit").iterdir() if p.is_dir() and p.name.isdigit())
        command = ["scontrol", "requeue", job] if how == "requeue" else ["scancel", "--signal=USR2", job]
        subprocess.run(command, env=slurm_env, check=True, timeout=30)
    output, _ = launcher.communicate(timeout=900)
    assert launcher.returncode == 0, output[-4000:]

    assert json.loads((run_dir / "rl" / "DONE.json").read_text())["metrics"]
    assert _rl_steps(run_dir) == list(range(steps)), "an RL step repeated or skipped"
    starts = [json.loads(line) for line in (run_dir / "invocations.jsonl").read_text().splitlines()]
    begun = [s for s in starts if "start" in s]
    assert len(begun) >= 2, "the job never came back"
    ends = [s["status"] for s in starts if "status" in s]
    assert ends[-1] == "finished" and any(e.startswith("interrupted") for e in ends[:-1]), ends
    assert len({s["slurm_job"] for s in begun}) == 1, "one SLURM job, restarted in place"
    text = (run_dir / "summary.md").read_text()
    assert "| sft | skipped (done) |" in text, "the finished SFT stage must be kept, not run again"
    assert list((sweep / ".submitit").rglob("*_result.pkl")), "the launcher returns the requeued job's result"
