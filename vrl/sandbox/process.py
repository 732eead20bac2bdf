"""The process-level backend, for machines that forbid user namespaces (many HPC clusters).

The warm worker is a plain child of the trainer with a clean environment. Isolation is what
each forked child applies to itself (`confine.py`): rlimits, a different uid when we are root,
no capabilities, Landlock (filesystem: only the interpreter, the call dir and /dev basics; no
TCP; no signals outside) and seccomp (no processes, exec, sockets, ptrace, ...). Without
namespaces there is no private network or PID view, so Landlock is required: the worker
refuses to run code on a kernel without it (Linux >= 5.13 with Landlock enabled).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .bwrap import ENV, NOBODY, bootstrap
from .policy import Policy


def command(policy: Policy, worker_dir: Path) -> list[str]:
    """argv that starts one warm worker as a plain process."""
    package_dir = str(Path(__file__).resolve().parent.parent)
    return [sys.executable, "-I", "-B", "-c", bootstrap(package_dir), policy.to_json()]


def environment() -> dict[str, str]:
    """The clean environment of a worker: nothing of the trainer's leaks in."""
    return dict(ENV)


def run_as(read_paths: list[str]) -> int | None:
    """nobody when we are root and nobody can read the interpreter, else None (keep uid)."""
    if os.geteuid() != 0:
        return None
    # Try it for real: the interpreter may live under a 0700 home (pyenv in /root).
    code = "import os, sys\nfor p in sys.argv[1:]:\n    os.listdir(p) if os.path.isdir(p) else os.stat(p)"
    paths = [p for p in read_paths if os.path.exists(p)]
    try:
        r = subprocess.run(
            [sys.executable, "-I", "-c", code, *paths],
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            env={},
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return NOBODY if r.returncode == 0 else None
