"""A sweep job's swept settings: which keys vary, this job's values, its W&B label."""

from __future__ import annotations

from vrl.sweep_job import job_values, label, short_names, swept_keys


def test_swept_keys_are_the_command_lines_sweeps_then_the_sweepers_params():
    command = ["debug=smoke", "seed=0,1", "stage.sft.lr=1e-3", "replay=glob(*)", "stages=[data,sft]"]
    params = {"stage.rl.group_size": "4,8", "+rethink": "forced,none", "name": "study"}
    assert swept_keys(command, params) == ["seed", "replay", "stage.rl.group_size", "rethink"]
    assert swept_keys(["debug=smoke"]) == []


def test_job_values_are_written_as_the_job_got_them():
    job = ["debug=smoke", "seed=1", "stage.sft.lr=1e-3", "+rethink=forced", "stages=[data,sft]"]
    assert job_values(job, ["seed", "stage.sft.lr", "rethink", "missing"]) == {
        "seed": "1",
        "stage.sft.lr": "1e-3",
        "rethink": "forced",
    }


def test_labels_use_short_names_unless_two_keys_end_alike():
    assert short_names(["stage.sft.lr", "seed"]) == {"stage.sft.lr": "lr", "seed": "seed"}
    assert short_names(["stage.sft.lr", "stage.rl.lr"]) == {
        "stage.sft.lr": "stage.sft.lr",
        "stage.rl.lr": "stage.rl.lr",
    }
    assert label({"stage.sft.lr": "1e-5", "replay": "ssr"}) == "lr=1e-5,replay=ssr"
    assert label({}) == ""
