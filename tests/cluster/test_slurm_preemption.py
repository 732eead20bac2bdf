"""A sweep job interrupted mid-RL by SLURM comes back in the same run dir and finishes: no RL step
repeated or skipped, the finished stages kept, and the Hydra launcher waits for the requeued job
and returns its result. Interruptions: `scontrol requeue` (SIGTERM, then SLURM restarts the
job) and submitit's signal (`scancel --signal=USR2`: vrl checkpoints, submitit requeues). The
wall-time limit (USR2 `signal_delay_s` before it, the same path; `max_num_timeout` requeues) is
tested on a run too long to finish at any speed: the job must come back and go on from its
checkpoint, then the test cancels it (a fixed step count finished inside the limit on a fast CI
machine, so nothing was interrupted)."""

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
RL_STEPS_PAST_THE_LIMIT = 5000  # 0.5-3 s a step: no machine finishes this inside the limit
STEPS_AFTER_THE_RESTART = 3


def _rl_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "rl" / "csv" / "metrics.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle) if row.get("train/rl_step")]


def _launch(sweep: Path, slurm_env: dict[str, str], steps: int, limit: list[str]) -> subprocess.Popen:
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
        *limit,
    ]
    return subprocess.Popen(
        args, cwd=REPO, env=slurm_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _job_id(sweep: Path) -> str:
    # A sweep of one job is submitted as a plain job: submitit's folder is named by its id.
    return next(p.name for p in (sweep / ".submitit").iterdir() if p.is_dir() and p.name.isdigit())


def _wait_until_gone(job: str, slurm_env: dict[str, str], timeout: float = 120) -> None:
    """Until the job has left the queue: its processes have ended, nothing writes to the run dir."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        queued = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T"], env=slurm_env, capture_output=True, text=True, timeout=30
        )
        if queued.returncode == 0 and not queued.stdout.strip():
            return
        time.sleep(1)
    raise AssertionError(f"job {job} still in the queue {timeout:.0f} s after scancel")


def _invocations(run_dir: Path) -> list[dict]:
    path = run_dir / "invocations.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip().endswith("}")]


def _assert_one_job_restarted_in_place(run_dir: Path) -> list[dict]:
    starts = _invocations(run_dir)
    begun = [s for s in starts if "start" in s]
    assert len(begun) >= 2, "the job never came back"
    assert len({s["slurm_job"] for s in begun}) == 1, "one SLURM job, restarted in place"
    ends = [s["status"] for s in starts if "status" in s]
    assert any(e.startswith("interrupted") for e in ends), ends
    return ends


@pytest.mark.parametrize("how", ["requeue", "usr2"])
def test_job_interrupted_mid_rl_finishes_in_the_same_run_dir(slurm_env, tmp_path, how):
    sweep = tmp_path / "sweep"
    launcher = _launch(sweep, slurm_env, RL_STEPS, ["hydra.launcher.timeout_min=15"])
    run_dir = sweep / "0"
    ckpt = run_dir / "rl" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 400
    while time.time() < deadline and launcher.poll() is None and not ckpt.exists():
        time.sleep(0.5)
    assert ckpt.exists(), "no RL checkpoint before the deadline"
    job = _job_id(sweep)
    command = ["scontrol", "requeue", job] if how == "requeue" else ["scancel", "--signal=USR2", job]
    subprocess.run(command, env=slurm_env, check=True, timeout=30)
    output, _ = launcher.communicate(timeout=900)
    assert launcher.returncode == 0, output[-4000:]

    assert json.loads((run_dir / "rl" / "DONE.json").read_text())["metrics"]
    assert _rl_steps(run_dir) == list(range(RL_STEPS)), "an RL step repeated or skipped"
    ends = _assert_one_job_restarted_in_place(run_dir)
    assert ends[-1] == "finished", ends
    text = (run_dir / "summary.md").read_text()
    assert "| sft | skipped (done) |" in text, "the finished SFT stage must be kept, not run again"
    assert list((sweep / ".submitit").rglob("*_result.pkl")), "the launcher returns the requeued job's result"


def test_job_past_its_time_limit_comes_back_and_goes_on_from_its_checkpoint(slurm_env, tmp_path):
    # A 2-minute limit, USR2 30 s before it: slurmctld checks time limits every 30 s, so it comes
    # 60-90 s in (70 and 87 s measured on the one-node cluster), well after SFT (done ~15 s in).
    # A 1-minute limit signalled while SFT was still loading, every time.
    limit = [
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=5",
    ]
    sweep = tmp_path / "sweep"
    launcher = _launch(sweep, slurm_env, RL_STEPS_PAST_THE_LIMIT, limit)
    run_dir = sweep / "0"
    sft_done = run_dir / "sft" / "DONE.json"
    steps_at_restart, sft_done_at_restart = None, None
    deadline = time.time() + 720
    try:
        while time.time() < deadline and launcher.poll() is None:
            time.sleep(1)
            begun = [s for s in _invocations(run_dir) if "start" in s]
            try:  # the CSV is being written: a half-written row is read again next second
                steps = _rl_steps(run_dir)
            except (OSError, ValueError):
                steps = []
            if len(begun) >= 2 and steps_at_restart is None:
                steps_at_restart = len(steps)
                sft_done_at_restart = sft_done.stat().st_mtime if sft_done.exists() else None
            if steps_at_restart is not None and len(steps) >= steps_at_restart + STEPS_AFTER_THE_RESTART:
                break
        assert launcher.poll() is None, "the launcher ended early:\n" + launcher.communicate()[0][-4000:]
        assert steps_at_restart is not None, "the job never came back from its time limit"
    finally:
        if (sweep / ".submitit").exists():
            job = _job_id(sweep)
            subprocess.run(["scancel", job], env=slurm_env, timeout=30)
            _wait_until_gone(job, slurm_env)
        # The job is over: stop the launcher now rather than wait for submitit's next poll
        # (up to a minute) to find the cancelled job.
        launcher.terminate()
        try:
            launcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.communicate()

    steps = _rl_steps(run_dir)
    assert steps == list(range(len(steps))), "an RL step repeated or skipped"
    assert len(steps) >= steps_at_restart + STEPS_AFTER_THE_RESTART
    _assert_one_job_restarted_in_place(run_dir)
    assert sft_done_at_restart is not None and sft_done.stat().st_mtime == sft_done_at_restart, (
        "SFT finished before the time limit and was kept, not run again"
    )
