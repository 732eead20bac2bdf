"""`make_sandbox`: pick a backend (or the strongest that works here), start its warm workers.

auto = bwrap when `bwrap` is installed and a probe sandbox starts (namespaces allowed), else
process (needs Landlock ABI >= 6, or `allow_weak_landlock`; as root it never runs code as uid 0).
The choice and the reason are logged.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import bwrap, landlock, process, seccomp
from .policy import Policy, interpreter_paths
from .pool import SandboxPool

log = logging.getLogger(__name__)
BACKENDS = ("auto", "bwrap", "process")
# Landlock 6 (Linux 6.12) scopes signals (incl. F_SETOWN's SIGIO) and abstract unix sockets to
# the sandbox; below it, only seccomp and the uid keep the process backend's code off host
# processes, which namespaces do under bwrap.
SCOPED_LANDLOCK_ABI = 6


def _config_error(msg: str) -> Exception:
    try:
        from vrl.errors import ConfigError
    except ImportError:  # vrl.sandbox imported on its own (inside a worker)
        return ValueError(msg)
    return ConfigError(msg)


def bwrap_unavailable_reason(policy: Policy | None = None) -> str | None:
    """None when the bwrap backend works on this machine, else the reason it does not."""
    policy = policy or Policy(read_paths=interpreter_paths())
    with tempfile.TemporaryDirectory(prefix="vrl-sandbox-probe-") as scratch:
        Path(scratch).chmod(0o711)
        return bwrap.probe(policy, Path(scratch))


def process_unavailable_reason() -> str | None:
    """None when the process backend can confine code here, else the reason it cannot."""
    if seccomp.load() is None:
        return "libseccomp.so.2 is missing (Debian: apt-get install -y libseccomp2)"
    if landlock.abi() == 0:
        return "the kernel has no Landlock (Linux >= 5.13 with lsm=landlock) to confine the filesystem"
    return None


StartFn = Callable[[Path], tuple[list[str], dict[str, str], str]]


def resolve(
    backend: str = "auto",
    cpu_s: float = 10,
    wall_s: float = 10,
    memory_mb: int = 1024,
    max_processes: int = 1,
    max_output_bytes: int = 65536,
    persistent: bool = False,
    calls_per_process: int = 1,
    png_compress_level: int | None = 1,
    max_files: int = 1000,
    allow_weak_landlock: bool = False,
) -> tuple[str, Policy, StartFn]:
    """(chosen backend, policy, how to start one worker) without starting anything."""
    if backend not in BACKENDS:
        raise _config_error(f"sandbox.backend={backend!r} is unknown; use one of {', '.join(BACKENDS)}")
    if int(calls_per_process) < 1:
        raise _config_error(
            f"sandbox.calls_per_process={calls_per_process} must be >= 1 (1 = a fresh process per call)"
        )
    if int(calls_per_process) > 1 and int(max_processes) > 1:
        raise _config_error(
            f"sandbox.calls_per_process={calls_per_process} needs max_processes=1: a thread could outlive "
            "its call in a reused process; set one of them to 1"
        )
    if png_compress_level is not None and not 0 <= int(png_compress_level) <= 9:
        raise _config_error(
            f"sandbox.png_compress_level={png_compress_level} must be 0-9 or null (zlib's default)"
        )
    if int(max_files) < 1:
        raise _config_error(f"sandbox.max_files={max_files} must be >= 1 (entries in a call's output dir)")
    if int(calls_per_process) > 1:
        log.warning(
            "sandbox: calls_per_process=%d: weaker isolation between calls: a call's code can change "
            "the interpreter (patched classes such as PIL.Image.Image, the reset machinery, the reply "
            "protocol) that later independent calls on its worker run in; use 1 for untrusted RL code",
            int(calls_per_process),
        )
    policy = Policy(
        cpu_s=float(cpu_s),
        wall_s=float(wall_s),
        memory_mb=int(memory_mb),
        max_processes=int(max_processes),
        max_output_bytes=int(max_output_bytes),
        persistent=bool(persistent),
        calls_per_process=int(calls_per_process),
        png_compress_level=None if png_compress_level is None else int(png_compress_level),
        read_paths=interpreter_paths(),
        max_files=int(max_files),
    )
    chosen = backend
    if backend in ("auto", "bwrap"):
        reason = bwrap_unavailable_reason(policy)
        if reason is None:
            chosen = "bwrap"
        elif backend == "bwrap":
            raise _config_error(f"sandbox.backend=bwrap is unavailable: {reason}; or use sandbox=process")
        else:
            chosen = "process"
            log.warning("sandbox: bwrap unavailable (%s); falling back to the process backend", reason)
    if chosen == "process":
        reason = process_unavailable_reason()
        if reason is not None:
            raise _config_error(f"sandbox.backend=process cannot confine code here: {reason}")
        abi = landlock.abi()
        if abi < SCOPED_LANDLOCK_ABI and not allow_weak_landlock:
            raise _config_error(
                f"sandbox.backend=process: Landlock ABI {abi} < {SCOPED_LANDLOCK_ABI} (Linux < 6.12) cannot "
                "stop code from signalling host processes or reaching abstract sockets; use a newer "
                "kernel or sandbox.backend=bwrap, or set sandbox.allow_weak_landlock=true to accept that"
            )
        if abi < SCOPED_LANDLOCK_ABI:
            log.warning(
                "sandbox: Landlock ABI %d: signals and abstract sockets are not scoped (accepted)", abi
            )
        policy.landlock_abi = abi
        try:
            plan = process.plan(policy.read_paths)
        except RuntimeError as e:
            raise _config_error(
                f"sandbox.backend=process refuses to run code as root: {e}; install Python where uid "
                "nobody can read it (0755 dirs, e.g. /opt or /usr/local) or use sandbox.backend=bwrap"
            ) from None
        policy.run_as, policy.read_paths = plan.run_as, plan.read_paths
        policy.require_landlock = True
        if plan.executable != sys.executable:
            log.warning(
                "sandbox: uid nobody cannot read %s; workers run a copy it can read (code may import the "
                "stdlib and numpy/Pillow/OpenCV only): %s",
                sys.base_prefix,
                plan.executable,
            )

        def start(host_dir: Path) -> tuple[list[str], dict[str, str], str]:
            return (
                process.command(policy, host_dir, plan.executable),
                process.environment(plan.env),
                str(host_dir),
            )
    else:
        policy.run_as = bwrap.run_as()

        def start(host_dir: Path) -> tuple[list[str], dict[str, str], str]:
            host_dir.mkdir(mode=0o711, exist_ok=True)
            return bwrap.command(policy, host_dir), {}, bwrap.SANDBOX_ROOT

    return chosen, policy, start


def make_sandbox(
    backend: str = "auto",
    workers: int = 2,
    cpu_s: float = 10,
    wall_s: float = 10,
    memory_mb: int = 1024,
    max_processes: int = 1,
    max_output_bytes: int = 65536,
    persistent: bool = False,
    calls_per_process: int = 1,
    png_compress_level: int | None = 1,
    max_files: int = 1000,
    allow_weak_landlock: bool = False,
    out_dir: str | None = None,
) -> SandboxPool:
    """A started sandbox; see `conf/sandbox/auto.yaml` for what each argument means, and:

    max_files: entries (files, dirs, links) a call may leave in its output dir, counted by the
        worker every 25 ms while it runs; more stops it with violation "files".
    allow_weak_landlock: let the process backend run on Landlock ABI < 6 (Linux < 6.12), whose
        domains do not scope signals and abstract unix sockets (seccomp still refuses the
        known paths: kill/tgkill/F_SETOWN & co., any unix-socket address).
    """
    chosen, policy, start = resolve(
        backend,
        cpu_s,
        wall_s,
        memory_mb,
        max_processes,
        max_output_bytes,
        persistent,
        calls_per_process,
        png_compress_level,
        max_files,
        allow_weak_landlock,
    )
    log.info("sandbox backend: %s (requested %s)", chosen, backend)
    return SandboxPool(chosen, policy, start, workers, out_dir)
