"""submitit against the real controller: jobs run this checkout with the submitter's environment,
and job states come from the `sacct` stand-in (no accounting daemon), so a job that dies without
writing its result is reported as failed instead of being waited on forever."""

from __future__ import annotations

import logging
import sys

import pytest
from vrl_testing import REPO

pytestmark = pytest.mark.slurm


@pytest.fixture
def executor(slurm_env, monkeypatch, tmp_path):
    import submitit

    for key in ("SLURM_CONF", "PATH", "PYTHONPATH"):
        if key in slurm_env:
            monkeypatch.setenv(key, slurm_env[key])
    ex = submitit.AutoExecutor(folder=tmp_path / "%j", cluster="slurm")
    ex.update_parameters(timeout_min=5, cpus_per_task=1, mem_gb=1, name="vrl-test")
    return ex


def test_job_runs_this_checkout_and_its_state_is_polled(executor, caplog):
    from submitit.helpers import CommandFunction

    code = "import os, vrl; print(vrl.__file__, os.environ['SLURM_JOB_ID'], os.environ['PYTHONPATH'])"
    with caplog.at_level(logging.WARNING, logger="submitit"):
        job = executor.submit(CommandFunction([sys.executable, "-c", code]))
        vrl_file, job_id, pythonpath = job.result().split()
    assert vrl_file == str(REPO / "vrl" / "__init__.py") and pythonpath == str(REPO)
    assert job_id == job.job_id
    assert job.watcher.get_state(job.job_id, mode="force") == "COMPLETED"
    assert not [r for r in caplog.records if "sacct" in r.getMessage()], caplog.text


def test_job_killed_without_a_result_is_reported_not_awaited(executor):
    """SIGKILL of the job's Python (the OOM killer, a node failure): no result pickle is written;
    only the job state tells the waiting launcher that it is over."""
    from submitit.core.utils import UncompletedJobError
    from submitit.helpers import CommandFunction

    job = executor.submit(CommandFunction(["bash", "-c", "kill -9 $PPID"]))
    error = job.exception()  # returns once the watcher sees a final state
    assert isinstance(error, UncompletedJobError), error
    assert "has not produced any output (state: FAILED)" in str(error)
