"""A real sweep through SLURM: `python -m vrl -m +sweeps=sft_lr trainer=ddp_cpu hydra/launcher=slurm_cpu`
submits one job array to the controller; each job is 2 SLURM tasks that train together over gloo
(Lightning's SLURM environment, not a local spawn) and finish every stage."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from vrl_testing import REPO

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
STAGES = ("data", "sft", "rl", "eval")


def test_sft_lr_sweep_runs_as_a_slurm_array(slurm_env, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vrl",
            "-m",
            "+sweeps=sft_lr",
            "debug=smoke",
            "trainer=ddp_cpu",
            "hydra/launcher=slurm_cpu",
            "logger.wandb_mode=offline",
            # 2 tasks x 1 CPU per job: the jobs take the 2-CPU node in turn; 2 smoke ranks need < 4 GB.
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=4",
            "hydra.launcher.timeout_min=15",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        cwd=REPO,
        env=slurm_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Submitit 'slurm' sweep output dir" in output
    assert "sacct error" not in output, "submitit could not poll job states (is the sacct stand-in on PATH?)"

    for num, lr in ((0, "0.001"), (1, "0.003")):
        run_dir = sweep_dir / str(num)
        for stage in STAGES:
            assert json.loads((run_dir / stage / "DONE.json").read_text())["seconds"] > 0, (num, stage)
        assert f"stage.sft.lr={lr}" in (run_dir / ".hydra" / "overrides.yaml").read_text()
        started = json.loads((run_dir / "invocations.jsonl").read_text().splitlines()[0])
        assert started["ranks"] == 2 and started["slurm_job"], started
        assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 3, (
            "rank 0 alone logs: one W&B run per training/eval stage"
        )

    # The sweep's end, in the submitting process (SweepReport): both jobs compared.
    assert f"sweep report: {sweep_dir / 'report' / 'report.html'}" in result.stdout
    jobs = (sweep_dir / "report" / "jobs.csv").read_text().splitlines()
    assert [row.split(",")[:3] for row in jobs] == [
        ["job", "stage.sft.lr", "status"],
        ["0", "0.001", "finished"],
        ["1", "0.003", "finished"],
    ]

    # One array, two tasks: submitit's folders are named <array job>_<task>.
    job_dirs = sorted(p.name for p in (sweep_dir / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name))
    assert len(job_dirs) == 2 and job_dirs[0].split("_")[0] == job_dirs[1].split("_")[0], job_dirs
    array_id = job_dirs[0].split("_")[0]
    for job in job_dirs:
        for task in (0, 1):  # one process per task
            assert (sweep_dir / ".submitit" / job / f"{job}_{task}_result.pkl").exists()
    submission = (sweep_dir / ".submitit" / array_id / f"{array_id}_submission.sh").read_text()
    assert "--job-name=sft_lr" in submission and "--ntasks-per-node=2" in submission

    # The launcher returns when the result pickles exist; the jobs' processes exit a moment later.
    expected = [(f"{array_id}_0", "COMPLETED"), (f"{array_id}_1", "COMPLETED")]
    for _ in range(60):
        rows = _sacct_rows(array_id, slurm_env)
        if [(r[0], r[1]) for r in rows] == expected:
            break
        time.sleep(1)
    assert [(r[0], r[1]) for r in rows] == expected


def _sacct_rows(job_id: str, env: dict[str, str]) -> list[list[str]]:
    out = subprocess.run(
        ["sacct", "-j", job_id, "-o", "JobID,State,Start,End", "--parsable2", "--noheader"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split("|") for line in out.splitlines()]
