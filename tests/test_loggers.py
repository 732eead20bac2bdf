import json
import os
import socket

import pytest
import wandb
from lightning.pytorch.loggers import WandbLogger

from vrl.errors import VrlError
from vrl.loggers import RunLoggers, SignalSafeWandbLogger, finish
from vrl.metrics_csv import ResumableCSVLogger


def test_auto_mode_is_offline_without_a_key(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert RunLoggers().resolved_wandb_mode == "offline"
    assert RunLoggers(wandb_mode="disabled").resolved_wandb_mode == "disabled"


def test_auto_mode_with_a_key_is_online_only_when_the_server_answers(monkeypatch, caplog):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    with socket.socket() as server:  # a real local server that accepts connections
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert RunLoggers().resolved_wandb_mode == "online"
    with socket.socket() as gone:  # a port nothing listens on any more
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    loggers = RunLoggers(reach_timeout_s=1.0)
    assert loggers.resolved_wandb_mode == "offline"
    assert loggers.resolved_wandb_mode == "offline"  # asked once per process
    lines = [r.getMessage() for r in caplog.records if "did not answer" in r.getMessage()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "wandb sync" in lines[0]


def test_offline_wandb_run_per_stage_with_group_and_job_type(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    settings = RunLoggers(group="study-sweep-1", tags=["a"])
    settings.run_name = "study"
    loggers = settings.build("sft", tmp_path / "sft", {"lr": 0.1})
    assert [type(lg) for lg in loggers] == [ResumableCSVLogger, SignalSafeWandbLogger]
    identity = json.loads((tmp_path / "sft" / "wandb_run.json").read_text())
    assert (
        identity["group"] == "study-sweep-1"
        and identity["job_type"] == "sft"
        and identity["mode"] == "offline"
        and "entity" in identity  # where the W&B Report of a sweep is saved (None: the key's default)
    )
    loggers[1].log_metrics({"train/loss": 1.0}, step=0)
    finish(loggers)
    # wandb-core writes the offline transaction log asynchronously; `finish` returns before the
    # records are on disk under load (seen: a 7-byte header). Shutting the service down waits
    # for them, as the end of a vrl process does.
    wandb.teardown()
    run_file = next((tmp_path / "wandb").glob(f"offline-run-*-{identity['id']}/run-*.wandb"))
    assert b"study-sweep-1" in run_file.read_bytes()


def test_disabled_keeps_the_csv_log(tmp_path):
    loggers = RunLoggers(wandb_mode="disabled").build("eval", tmp_path / "eval", {})
    assert [type(lg) for lg in loggers] == [ResumableCSVLogger]


def test_wandb_logging_after_its_service_died_warns_once_and_stops(monkeypatch, caplog):
    """SLURM's SIGTERM kills W&B's service too: the stage's clean stop must not become a crash."""
    calls = []

    def dead_service(self, metrics, step=None):
        calls.append(step)
        raise ConnectionResetError("Connection lost")

    monkeypatch.setattr(WandbLogger, "log_metrics", dead_service)
    logger = SignalSafeWandbLogger(offline=True)
    logger.log_metrics({"a": 1.0}, step=0)
    logger.log_metrics({"a": 2.0}, step=1)
    assert calls == [0], "no W&B call after the first failure"
    assert sum("W&B stopped answering" in r.getMessage() for r in caplog.records) == 1


def test_a_refused_wandb_start_is_one_line_naming_the_stage_and_the_fix(tmp_path, monkeypatch):
    """W&B's service refusing the run (as a shared service did on CI, "run ID ... is in use",
    before the entry point stopped inheriting it): faked at that boundary, which cannot be
    provoked on demand."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)

    def refuse(*args, **kwargs):
        raise wandb.errors.Error("run ID abc123 is in use")

    monkeypatch.setattr(wandb, "init", refuse)
    with pytest.raises(
        VrlError, match=r"stage rl: W&B could not start run \(new\) .*in use.* logger.wandb_mode=disabled"
    ):
        RunLoggers().build("rl", tmp_path / "rl", {})


def test_wandb_stages_its_files_in_the_run_unless_the_user_chose_a_place(tmp_path, monkeypatch):
    from vrl.loggers import _stage_wandb_files_in

    monkeypatch.delenv("WANDB_DATA_DIR", raising=False)
    monkeypatch.delenv("VRL_WANDB_DATA_DIR", raising=False)
    _stage_wandb_files_in(tmp_path / "first" / "wandb")
    assert os.environ["WANDB_DATA_DIR"] == str(tmp_path / "first" / "wandb" / "data")
    # a later run (or a child process that inherited the first run's value) stages in its own dir
    _stage_wandb_files_in(tmp_path / "second" / "wandb")
    assert os.environ["WANDB_DATA_DIR"] == str(tmp_path / "second" / "wandb" / "data")
    monkeypatch.setenv("WANDB_DATA_DIR", "/the/users/choice")
    _stage_wandb_files_in(tmp_path / "third" / "wandb")
    assert os.environ["WANDB_DATA_DIR"] == "/the/users/choice"
