"""Every bad input gets one line before any work starts, or is handled right (tests/bad_input_cases.py).

One parametrised suite over the cases: most compose the study in process and fail in pre-flight
within seconds; the `cli` ones go through vrl's entry point (in process); the `slow` ones train
first. A few run `python -m vrl` for real, to check what the user sees: exit status 2, one
`vrl: error:` line, no traceback.
"""

from __future__ import annotations

import pytest
from bad_input_cases import CASES, run_case, stage_work, verdict
from vrl_testing import REPO, run_vrl


def _moot(unless: str) -> bool:
    if unless == "cuda":
        import torch

        return torch.cuda.is_available()
    from vrl.stages.preflight import installed

    return bool(unless) and installed(unless)


def _param(case):
    marks = [pytest.mark.slow] if case.lane == "slow" else []
    if case.unless:
        marks.append(pytest.mark.skipif(_moot(case.unless), reason=f"{case.unless} is available here"))
    return pytest.param(case, id=case.id, marks=marks)


def test_the_cases_cover_the_issue_and_more():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 109, "the issue tried 109 bad inputs: at least as many here"
    found = {case.found for case in CASES}
    assert {"traceback", "silent", "wrong"} <= found


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input(case, tmp_path):
    outcome = run_case(case, tmp_path)
    kind = verdict(case, outcome, tmp_path)
    wanted = "handled" if case.expect is None else "one-line"
    assert kind == wanted, (
        f"{case.id}: {kind} (wanted {wanted}; expected {case.expect!r}); lost {outcome.lost}; "
        f"stage work before the error {stage_work(case, outcome)}\n"
        f"{outcome.message or outcome.output[-4000:]}"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "case_id", ["seed-word", "plus-unknown-top", "rundir-is-file", "model-corrupt-safetensors"]
)
def test_the_user_sees_one_line_and_status_2(case_id, tmp_path):
    case = next(c for c in CASES if c.id == case_id)
    if case.setup is not None:
        case.setup(tmp_path)
    args = case.argv(tmp_path, tmp_path / "run")
    if not any(a.startswith("hydra.run.dir=") for a in args):
        args.append(f"hydra.run.dir={tmp_path / 'run'}")
    result = run_vrl(args, cwd=REPO, timeout=300)
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("vrl: error:")]
    assert len(errors) == 1 and case.expect in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_ctrl_c_in_eval_is_one_line_status_130_and_keeps_the_scored_items(tmp_path):
    """The real process, the real signal: SIGINT once eval has scored its first items."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    args = [
        "debug=smoke",
        "logger=csv",
        "stages=[eval]",
        "stage.eval.limit=64",
        "rollout.batch_size=4",
        f"hydra.run.dir={run}",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "HYDRA_FULL_ERROR")}
    process = subprocess.Popen(
        [sys.executable, "-m", "vrl", *args],
        cwd=REPO,
        env={**env, "WANDB_MODE": "offline"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    items = run / "eval" / "procedural_holdout" / "items.jsonl"
    deadline = time.monotonic() + 240
    while not (items.is_file() and items.read_text().count("\n") >= 4) and process.poll() is None:
        assert time.monotonic() < deadline, "eval never wrote its first items"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, (process.returncode, stderr[-3000:])
    lines = [line for line in stderr.splitlines() if line.startswith(("vrl: error:", "vrl: stopped by"))]
    assert len(lines) == 1 and "stopped by SIGINT" in lines[0] and str(run) in lines[0], stderr[-3000:]
    assert "Traceback" not in stderr
    assert not (run / "eval" / "DONE.json").exists()
    assert 4 <= items.read_text().count("\n") < 64, "the items scored before Ctrl-C are kept"
