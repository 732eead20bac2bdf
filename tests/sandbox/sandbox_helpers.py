"""Helpers shared by the sandbox tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import os

import pytest

from vrl.sandbox import make_sandbox
from vrl.sandbox.factory import bwrap_unavailable_reason, process_unavailable_reason

# A secret in the trainer's environment: no sandboxed program may see it.
SECRET = "vrl-sandbox-test-secret-2f9c"
os.environ["VRL_SANDBOX_TEST_SECRET"] = SECRET

LIMITS = dict(cpu_s=1, wall_s=1, memory_mb=256, max_output_bytes=4096, max_files=100)
_REASONS = {"bwrap": bwrap_unavailable_reason, "process": process_unavailable_reason}


def start(backend: str, **kwargs):
    """A started sandbox of `backend`, or a skip naming why that backend cannot run here.
    `backend-reuse` is that backend with confined processes reused across calls."""
    backend, _, mode = backend.partition("-")
    if mode == "reuse":
        kwargs = {"calls_per_process": 1000, **kwargs}
    reason = _REASONS[backend]()
    if reason is not None:
        pytest.skip(f"{backend} backend unavailable: {reason}")
    return make_sandbox(backend=backend, **{"workers": 2, **LIMITS, **kwargs})


def assert_alive(sb) -> None:
    """The sandbox still answers normally after whatever the previous call did."""
    r = sb.execute("print(6 * 7)", [])
    assert (r.text, r.error, r.violation) == ("42\n", None, None), r
