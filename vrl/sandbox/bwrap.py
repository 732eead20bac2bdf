"""The strong backend: each warm worker lives in its own bubblewrap sandbox.

Namespaces: mount (an empty read-only root holding only the interpreter, its libraries, /dev
basics, a private /proc and the worker's directory at /sandbox), network (no interfaces but a
private loopback), PID, IPC, UTS and cgroup. As root, bwrap runs privileged without a user
namespace; the worker keeps only CAP_SETUID/SETGID (the child uses them to become `nobody`),
CAP_KILL (to kill that child) and CAP_DAC_READ_SEARCH (to count the files of an output dir the
code made unreadable), all lost by the child when it switches uid (so the code never runs as
host root). As a normal user it needs unprivileged user namespaces
(`--unshare-user`) and the code keeps that user's uid. Inside, every call still gets the
Landlock + seccomp + rlimit confinement of `confine.py`.

Debian package: `bubblewrap` (`apt-get install -y bubblewrap`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .policy import Policy

SANDBOX_ROOT = "/sandbox"
PACKAGE_DIR = "/opt/vrl/vrl"  # where vrl/sandbox is mounted read-only for the worker to import
NOBODY = 65534
ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/nonexistent",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


def bootstrap(package_dir: str) -> str:
    """`python -c` code that imports the worker without running vrl/__init__.py."""
    return (
        f"import sys, types; m = types.ModuleType('vrl'); m.__path__ = [{package_dir!r}]; "
        "sys.modules['vrl'] = m; from vrl.sandbox.worker import main; main()"
    )


def _mounts(worker_dir: Path, read_paths: list[str]) -> list[str]:
    args: list[str] = []
    made: set[str] = set()

    def parents(dest: str) -> None:  # bwrap would create them 0700: unusable once uid is nobody
        parts = Path(dest).parts[1:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in made:
                made.add(d)
                args.extend(["--perms", "0755", "--dir", d])

    bound: list[str] = []
    for p in sorted(read_paths, key=len):
        if p == "/" or not os.path.lexists(p) or any(p == b or p.startswith(b + "/") for b in bound):
            continue
        parents(p)
        if os.path.islink(p):
            args += ["--symlink", os.readlink(p), p]
        else:
            args += ["--ro-bind", p, p]
            bound.append(p)
    here = str(Path(__file__).resolve().parent)
    parents(PACKAGE_DIR + "/sandbox")
    args += ["--ro-bind", here, PACKAGE_DIR + "/sandbox", "--bind", str(worker_dir), SANDBOX_ROOT]
    return args + ["--dev", "/dev", "--proc", "/proc", "--remount-ro", "/", "--chdir", SANDBOX_ROOT]


def command(policy: Policy, worker_dir: Path, python_args: list[str] | None = None) -> list[str]:
    """argv that starts one warm worker (or `python python_args`) in its own bubblewrap sandbox."""
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
        # child: become nobody; worker: kill it, count its files (`worker.py`)
        for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_READ_SEARCH"):
            args += ["--cap-add", cap]
    else:
        args += ["--unshare-user", "--cap-drop", "ALL"]
    for k, v in ENV.items():
        args += ["--setenv", k, v]
    args += _mounts(worker_dir, policy.read_paths)
    python_args = python_args or ["-I", "-B", "-c", bootstrap(PACKAGE_DIR), policy.to_json()]
    return [*args, sys.executable, *python_args]


def run_as() -> int | None:
    """uid the confined code runs as: nobody when we are root, else our own (None)."""
    return NOBODY if os.geteuid() == 0 else None


def probe(policy: Policy, scratch: Path) -> str | None:
    """None when bwrap can start the interpreter with these mounts here; else why not."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian: apt-get install -y bubblewrap)"
    argv = command(policy, scratch, ["-I", "-c", "import os; print(os.getpid())"])
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={})
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap failed to start: {e}"
    if r.returncode != 0 or r.stdout.strip() != "2":  # pid 2: inside a fresh PID namespace
        lines = (r.stderr or r.stdout).strip().splitlines()
        return f"bwrap cannot create its sandbox here: {lines[-1] if lines else r.returncode}"
    return None
