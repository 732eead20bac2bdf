"""The rank watcher of a one-node multi-process run (`vrl.distributed.spawn_local_ranks`), with
real processes: a failed child rank stops rank 0 with the child's status; a child that fails on a
user error (status 2) leaves rank 0 time to print that error itself (CI saw rank 1 finish the
pre-flight first and rank 0 stopped by SIGTERM, 143, before its one line)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from vrl_testing import REPO

RANK_ZERO = textwrap.dedent(
    """
    import sys, time
    import vrl.distributed as d
    from vrl.interrupt import GUARD, Interrupted

    d.USER_ERROR_GRACE_S = {grace}
    GUARD.install()
    d.spawn_local_ranks(2, [sys.executable, "-c", "import sys; sys.exit({child_status})"])
    try:
        time.sleep({rank_zero_s})
    except Interrupted as stop:
        stop.exit()
    print("vrl: error: rank zero's own line", file=sys.stderr)
    sys.exit(2)
    """
)


def _rank_zero(
    child_status: int, rank_zero_s: float, grace: float
) -> tuple[subprocess.CompletedProcess, float]:
    code = RANK_ZERO.format(child_status=child_status, rank_zero_s=rank_zero_s, grace=grace)
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    return result, time.monotonic() - start


def test_a_crashed_rank_stops_rank_zero_with_its_status():
    result, took = _rank_zero(child_status=3, rank_zero_s=60, grace=30)
    assert result.returncode == 3, result.stderr
    assert "vrl: rank 1 exited with status 3: stopping the run" in result.stderr
    assert "rank zero's own line" not in result.stderr
    assert took < 20, f"stopped after {took:.1f} s, not at once"


def test_a_rank_with_a_user_error_waits_for_rank_zeros_own_line():
    result, _ = _rank_zero(child_status=2, rank_zero_s=3, grace=30)
    assert result.returncode == 2, result.stderr
    assert "rank zero's own line" in result.stderr
    assert "stopping the run" not in result.stderr


def test_rank_zero_stuck_after_a_user_error_is_stopped_after_the_grace():
    result, took = _rank_zero(child_status=2, rank_zero_s=60, grace=2)
    assert result.returncode == 2, result.stderr
    assert "vrl: rank 1 exited with status 2: stopping the run" in result.stderr
    assert took < 20, f"stopped after {took:.1f} s"
