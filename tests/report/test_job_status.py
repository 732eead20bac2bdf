"""A job's status is how its last start ended, as `vrl.invocation` records it (the real writer)."""

from __future__ import annotations

from vrl import invocation
from vrl.report.sweep import job_status


def test_status_is_the_last_starts_end(tmp_path):
    job = tmp_path / "0"
    job.mkdir()
    first = invocation.start(job, [], 1)
    invocation.end(job, first, "interrupted: SIGTERM (a stop signal); checkpoint written")
    assert job_status(job) == ("interrupted", "interrupted: SIGTERM (a stop signal); checkpoint written")
    second = invocation.start(job, [], 1)  # the requeued job: killed, no end written
    assert job_status(job) == ("interrupted", "killed (no end recorded)")
    invocation.end(job, second, "failed: ValueError: boom")
    assert job_status(job) == ("failed", "failed: ValueError: boom")
    third = invocation.start(job, [], 1)
    invocation.end(job, third, "finished")
    assert job_status(job) == ("finished", "")


def test_a_job_without_a_record_is_missing(tmp_path):
    assert job_status(tmp_path / "7") == ("missing", "no job directory")
    job = tmp_path / "1"
    job.mkdir()
    (job / "sft_lr.log").write_text("Error composing the config\n")
    status, note = job_status(job)
    assert status == "missing" and str(job / "sft_lr.log") in note
