"""The `sacct` stand-in (scripts/slurm/sacct.py) on canned controller output, read back by submitit's
own sacct parser: no cluster needed."""

from __future__ import annotations

import subprocess
import sys

from vrl_testing import REPO

STANDIN_SACCT = REPO / "scripts" / "slurm" / "sacct.py"

# `scontrol show job -o`: array 7 with task 0 running, task 1 done and tasks 2-3 pending (one
# compressed record); job 9 requeued after a preemption and pending again.
LIVE = """\
JobId=8 ArrayJobId=7 ArrayTaskId=0 ArrayTaskThrottle=2 JobName=__main__ UserId=root(0) JobState=RUNNING Reason=None Restarts=0 ExitCode=0:0 RunTime=00:00:05 Partition=cpu StartTime=2026-12-06T01:00:00 EndTime=2026-12-06T02:00:00 NodeList=vm Command=(null) WorkDir=/tmp/a b
JobId=10 ArrayJobId=7 ArrayTaskId=1 JobName=__main__ JobState=COMPLETED Reason=None Restarts=0 ExitCode=0:0 Partition=cpu NodeList=vm
JobId=7 ArrayJobId=7 ArrayTaskId=2-3%2 ArrayTaskThrottle=2 JobName=__main__ JobState=PENDING Reason=JobArrayTaskLimit Restarts=0 ExitCode=0:0 Partition=cpu NodeList=
JobId=9 JobName=wrap JobState=PENDING Reason=BeginTime Restarts=1 ExitCode=0:0 Partition=cpu NodeList=
"""
# The job-completion log: job 5 (forgotten by the controller) ran twice (requeued, then done);
# job 9's first run was preempted, but the controller's record is newer.
JOBCOMP = """\
JobId=5 UserId=root(0) GroupId=root(0) Name=wrap JobState=REQUEUED Partition=cpu NodeList=vm ExitCode=0:15
JobId=5 UserId=root(0) GroupId=root(0) Name=wrap JobState=TIMEOUT Partition=cpu NodeList=vm ExitCode=0:15
JobId=9 UserId=root(0) GroupId=root(0) Name=wrap JobState=PREEMPTED Partition=cpu NodeList=vm ExitCode=0:15
JobId=12 UserId=root(0) GroupId=root(0) Name=__main__ JobState=CANCELLED Partition=cpu NodeList=vm ArrayJobId=11 ArrayTaskId=1 DerivedExitCode=0:0 ExitCode=0:15
"""


def _sacct(tmp_path, *args: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "live.txt").write_text(LIVE)
    (tmp_path / "jobcomp.log").write_text(JOBCOMP)
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f"#!/bin/sh\ncat {tmp_path / 'live.txt'}\n")
    scontrol.chmod(0o755)
    conf = tmp_path / "slurm.conf"
    conf.write_text(f"JobCompType=jobcomp/filetxt  # a comment\nJobCompLoc={tmp_path / 'jobcomp.log'}\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SLURM_CONF": str(conf)}
    result = subprocess.run(
        [sys.executable, str(STANDIN_SACCT), *args], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_submitits_query_reads_every_state(tmp_path):
    from submitit.slurm.slurm import SlurmInfoWatcher

    out = _sacct(tmp_path, "-o", "JobID,State,NodeList", "--parsable2", "-j", "7", "-j", "5", "-j", "9")
    assert out.splitlines()[0] == "JobID|State|NodeList"
    states = {job: info["State"] for job, info in SlurmInfoWatcher().read_info(out).items()}
    assert states == {
        "7_0": "RUNNING",
        "7_1": "COMPLETED",
        "7_2": "PENDING",  # from "7_[2-3%2]"
        "7_3": "PENDING",
        "5": "TIMEOUT",  # forgotten by the controller: the last completion line
        "9": "PENDING",  # the controller's record beats the older completion line
    }


def test_one_array_task_a_raw_id_and_a_forgotten_array_task(tmp_path):
    assert _sacct(tmp_path, "-P", "-n", "-o", "JobID,State", "-j", "7_1") == "7_1|COMPLETED\n"
    assert _sacct(tmp_path, "-P", "-n", "-o", "JobID,State", "-j", "8") == "7_0|RUNNING\n"
    assert (
        _sacct(tmp_path, "-P", "-n", "-o", "JobID,JobName,State", "-j", "11") == "11_1|__main__|CANCELLED\n"
    )
    assert (
        _sacct(tmp_path, "-P", "-n", "-o", "JobID,Elapsed,WorkDir", "-j", "7_0") == "7_0|00:00:05|/tmp/a b\n"
    )
    assert _sacct(tmp_path, "-P", "-n", "-o", "JobID,Restarts,Reason", "-j", "9") == "9|1|BeginTime\n"
