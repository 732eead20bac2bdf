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
    pid = os.fork()
    if pid == 0:  # try it for real: the interpreter may live under a 0700 home (pyenv in /root)
        code = 1
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            for p in [sys.executable, *read_paths]:
                if os.path.isdir(p):
                    os.listdir(p)
                elif os.path.lexists(p):
                    os.stat(p)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return NOBODY if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else None
