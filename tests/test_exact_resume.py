"""Stopped at any point, a run resumes to exactly what an uninterrupted run gives (issue 13.3).

One uninterrupted `python -m vrl` run (data, SFT, RL) against the same run stopped three times:
SIGKILL in the middle of SFT, SIGTERM during RL (a checkpoint at the step end, one line,
exit 128 + 15) and SIGKILL in the middle of RL, each time resumed with a bare
`python -m vrl hydra.run.dir=<run dir>` (the run's own overrides restored). The final SFT and RL
weights are compared byte for byte and both stages' metrics.csv row for row (timings aside);
W&B resumes each stage's run by its id.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from vrl_testing import REPO

pytestmark = pytest.mark.slow

# Long enough that a stop drawn up to 1 s after the first RL checkpoint lands mid-RL: at 5 steps
# (~0.2 s each here) a SIGTERM once arrived after the last one.
RL_STEPS = 30
ARGS = [
    "debug=smoke",
    "stages=[data,sft,rl]",
    "stage.sft.max_steps=8",
    # Checkpoints after steps 2, 4, 6 (the last batch of the smoke set's first epoch: once
    # resumed into the wrong permutation), validation after 4 and 8 (the checkpoint of step 4
    # waits for it: a kill during it once lost its row).
    "stage.sft.save_every_n_steps=2",
    "stage.sft.val_every_n_steps=4",
    f"stage.rl.max_steps={RL_STEPS}",
    "logger.wandb_mode=offline",
    "trainer.enable_progress_bar=false",
]
TIMINGS = ("perf/", "timing_s/")


@pytest.fixture(autouse=True, scope="module")
def shared_wandb_service(tmp_path_factory):
    """A W&B service started in this test process, its token exported in WANDB_SERVICE, as CI's
    pytest process had after an in-process W&B test: every `python -m vrl` below inherits it.
    A run killed while its stream is open there must not block its own resume."""
    import wandb

    from vrl.loggers import RunLoggers, finish

    # A fresh service, whatever earlier tests left: one started in this process stays its
    # singleton, and an in-process `vrl.__main__.main` (tests/bad_input_cases.py) drops its export.
    wandb.teardown()
    finish(RunLoggers(wandb_mode="offline").build("probe", tmp_path_factory.mktemp("probe") / "probe", {}))
    assert os.environ.get("WANDB_SERVICE"), "W&B no longer exports its service: the fixture tests nothing"
    yield
    wandb.teardown()


def _start(run_dir: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    env.pop("WANDB_API_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "vrl", *args, f"hydra.run.dir={run_dir}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def _stop_when(
    process: subprocess.Popen, path: Path, signum: int, delay: float, newer_than: float = 0.0
) -> float:
    """Send `signum` to the run `delay` s after `path` is written (after `newer_than`)."""
    deadline = time.time() + 400
    while time.time() < deadline and process.poll() is None:
        if path.exists() and path.stat().st_mtime > newer_than:
            break
        time.sleep(0.1)
    if process.poll() is not None:
        raise AssertionError(f"the run ended before {path} was written:\n{process.stdout.read()[-3000:]}")
    time.sleep(delay)
    mtime = path.stat().st_mtime
    if signum == signal.SIGKILL:
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)  # the main process, as SLURM or a user would
    return mtime


def _kill(process: subprocess.Popen) -> None:
    """A run a failed test left behind, with its children (it leads its own session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def _weights(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _metrics(stage_dir: Path) -> list[dict[str, str]]:
    with open(stage_dir / "csv" / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if not k.startswith(TIMINGS)} for row in csv.DictReader(handle)]


def test_killed_and_signalled_run_resumes_bit_identical(tmp_path, request):
    seed = int(os.environ.get("VRL_KILL_SEED", random.randrange(1000)))
    rng = random.Random(seed)
    print(f"kill points drawn with VRL_KILL_SEED={seed}")
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    # The uninterrupted run trains alongside the stopped one (its own run dir, nothing shared);
    # it is awaited only to compare, at the end.
    straight_run = _start(straight, ARGS)
    request.addfinalizer(lambda: _kill(straight_run))

    # 1. SIGKILL somewhere in SFT, after its first checkpoint (step 2 of 8).
    run = _start(stopped, ARGS)
    _stop_when(run, stopped / "sft" / "checkpoints" / "last.ckpt", signal.SIGKILL, rng.uniform(0, 1.5))
    rc, output = _finish(run)
    assert rc == -signal.SIGKILL, output[-3000:]
    assert not (stopped / "sft" / "DONE.json").exists(), (
        "SFT finished before the kill: no mid-SFT kill tested"
    )

    # 2. Resume; SIGTERM during RL: a checkpoint at the step end, one line, a non-zero exit.
    run = _start(stopped, [])
    rl_ckpt = stopped / "rl" / "checkpoints" / "last.ckpt"
    _stop_when(run, rl_ckpt, signal.SIGTERM, rng.uniform(0, 1.0))
    rc, output = _finish(run)
    assert rc == 128 + signal.SIGTERM, output[-3000:]
    lines = [line for line in output.splitlines() if line.startswith("vrl: stopped by SIGTERM")]
    assert len(lines) == 1 and "during stage rl after step" in lines[0], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "resuming with the run's own overrides" in output
    import torch

    state = torch.load(rl_ckpt, map_location="cpu", weights_only=False)
    at_term = state["vrl_rl"]["rl_step"]
    assert 1 <= at_term < RL_STEPS and f"after step {at_term}" in lines[0]
    assert {"optimizer_states", "vrl_rl"} <= set(state) and "rng" in state["vrl_rl"]
    rl_wandb = json.loads((stopped / "rl" / "wandb_run.json").read_text())["id"]

    # 3. Resume; SIGKILL in the middle of a later RL step.
    run = _start(stopped, [])
    mtime = rl_ckpt.stat().st_mtime
    _stop_when(run, rl_ckpt, signal.SIGKILL, rng.uniform(0, 1.0), newer_than=mtime)
    _finish(run)

    # 4. Resume to the end.
    rc, output = _finish(_start(stopped, []))
    assert rc == 0, output[-3000:]
    rc, output = _finish(straight_run)
    assert rc == 0, output[-3000:]

    rl_steps = [int(row["step"]) for row in _metrics(stopped / "rl") if row.get("train/rl_step")]
    assert rl_steps == list(range(RL_STEPS)), "an RL step logged twice or never"
    record = json.loads((stopped / "rl" / "wandb_run.json").read_text())
    assert record["id"] == rl_wandb and record["resumed"], "W&B must resume the stage's run by its id"
    invocations = (stopped / "summary.md").read_text().split("## Invocations", 1)[1]
    assert invocations.count("\n| ") >= 4 + 1, "summary.md must list every invocation"
    for stage in ("sft", "rl"):
        assert _weights(stopped / stage / "model") == _weights(straight / stage / "model"), (
            f"{stage} weights differ (VRL_KILL_SEED={seed})"
        )
        assert _metrics(stopped / stage) == _metrics(straight / stage), (
            f"{stage} metrics.csv differs (VRL_KILL_SEED={seed})"
        )


SFT_ONLY = [arg.replace("stages=[data,sft,rl]", "stages=[data,sft]") for arg in ARGS]


@pytest.fixture(scope="module")
def straight_sft(tmp_path_factory) -> Iterator[Callable[[], Path]]:
    """The uninterrupted SFT run, started at once: it trains alongside the first stopped run, and
    a test waits for it (`straight_sft()`, its run dir) only to compare."""
    run_dir = tmp_path_factory.mktemp("straight_sft")
    run = _start(run_dir, SFT_ONLY)

    @functools.cache
    def finished() -> Path:
        rc, output = _finish(run)
        assert rc == 0, output[-3000:]
        return run_dir

    yield finished
    _kill(run)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGUSR1])  # Ctrl-C; Lightning's requeue signal
def test_a_stop_signal_mid_sft_saves_its_step_and_resumes_bit_identical(tmp_path, straight_sft, signum):
    run = _start(tmp_path, SFT_ONLY)
    _stop_when(run, tmp_path / "sft" / "checkpoints" / "last.ckpt", signum, 0.0)
    rc, output = _finish(run)
    name = signal.Signals(signum).name
    assert rc == 128 + signum, output[-3000:]
    lines = [line for line in output.splitlines() if line.startswith(f"vrl: stopped by {name}")]
    assert len(lines) == 1 and "during stage sft after step" in lines[0], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    import torch

    state = torch.load(tmp_path / "sft" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert f"after step {state['global_step']}" in lines[0], "the checkpoint holds the step the line names"

    rc, output = _finish(_start(tmp_path, []))
    assert rc == 0, output[-3000:]
    straight = straight_sft()
    assert _weights(tmp_path / "sft" / "model") == _weights(straight / "sft" / "model")
    assert _metrics(tmp_path / "sft") == _metrics(straight / "sft")
