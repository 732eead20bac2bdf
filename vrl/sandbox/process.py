"""The process-level backend, for machines that forbid user namespaces (many HPC clusters).

The warm worker is a plain child of the trainer with a clean environment. Isolation is what
each forked child applies to itself (`confine.py`): rlimits, uid `nobody` when we are root
(never uid 0: with an interpreter nobody cannot read, the worker runs a copy it can, see
`runtime.py`), no capabilities, Landlock (filesystem: only the interpreter, the call dir and
/dev basics; no TCP; no signals or abstract sockets outside) and seccomp (no processes, exec,
sockets, ptrace, ...). Without namespaces there is no private network or PID view, so Landlock
is required, at ABI >= 6 (Linux 6.12: signal and abstract-socket scoping) unless the config
accepts less (`allow_weak_landlock`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import runtime
from .bwrap import ENV, NOBODY, bootstrap
from .policy import Policy

# What `nobody` must manage for the runtime to count as readable: list the read paths, import
# the preloaded imaging stack (when installed) and a stdlib module the worker does not preload.
_PROBE = (
    "import os, sys, importlib.util\n"
    "for p in sys.argv[1:]:\n    os.listdir(p) if os.path.isdir(p) else os.stat(p)\n"
    "import statistics\n"
    "for m in ('numpy', 'PIL.Image'):\n"
    "    if importlib.util.find_spec(m.split('.')[0]):\n        __import__(m)\n"
)


_readable: set[tuple] = set()


class Plan:
    """How the worker starts: interpreter, read paths, extra environment, and the code's uid."""

    def __init__(self, executable: str, read_paths: list[str], env: dict[str, str], run_as: int | None):
        self.executable, self.read_paths, self.env, self.run_as = executable, read_paths, env, run_as


def command(policy: Policy, worker_dir: Path, executable: str = sys.executable) -> list[str]:
    """argv that starts one warm worker as a plain process."""
    package_dir = str(Path(__file__).resolve().parent.parent)
    return [executable, "-I", "-B", "-c", bootstrap(package_dir), policy.to_json()]


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The clean environment of a worker: nothing of the trainer's leaks in."""
    return {**ENV, **(extra or {})}


def nobody_can_run(executable: str, read_paths: list[str], env: dict[str, str]) -> str | None:
    """None when uid nobody can start `executable` and read `read_paths`, else why not. A success
    is remembered for this trainer process (the probe costs ~0.3 s)."""
    key = (executable, tuple(read_paths), tuple(sorted(env.items())))
    if key in _readable:
        return None
    why = _probe(executable, read_paths, env)
    if why is None:
        _readable.add(key)
    return why


def _probe(executable: str, read_paths: list[str], env: dict[str, str]) -> str | None:
    paths = [p for p in read_paths if os.path.exists(p)]
    try:
        r = subprocess.run(
            [executable, "-I", "-c", _PROBE, *paths],
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            env=environment(env),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"{type(e).__name__}: {e}"
    lines = r.stderr.strip().splitlines()
    return None if r.returncode == 0 else (lines[-1] if lines else f"exit status {r.returncode}")


def plan(read_paths: list[str]) -> Plan:
    """Never run model code as root: as root, the code runs as nobody, with this interpreter if
    nobody can read it, else with a copy it can read (`runtime.py`). RuntimeError when neither
    works. Not root: the code keeps our uid (minus capabilities)."""
    if os.geteuid() != 0:
        return Plan(sys.executable, read_paths, {}, None)
    why = nobody_can_run(sys.executable, read_paths, {})
    if why is None:
        return Plan(sys.executable, read_paths, {}, NOBODY)
    try:
        exe, copied, env = runtime.build()
    except OSError as e:
        raise RuntimeError(
            f"uid nobody cannot read the interpreter ({why}) and copying it for nobody failed ({e})"
        ) from None
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    prefixes |= {str(Path(p).resolve()) for p in prefixes} | {
        str(Path(sys.executable).resolve().parent.parent)
    }
    system = [p for p in read_paths if not any(p == q or p.startswith(q + "/") for q in prefixes)]
    paths = sorted(set(copied) | set(system))
    why_copy = nobody_can_run(exe, paths, env)
    if why_copy is not None:
        raise RuntimeError(
            f"uid nobody cannot read the interpreter ({why}) nor its copy under {copied[0]} ({why_copy})"
        )
    return Plan(exe, paths, env, NOBODY)
