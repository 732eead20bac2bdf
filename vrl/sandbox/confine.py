"""Confine the freshly forked process that is about to run model code. Irreversible, in order:

1. own session, die with the worker;
2. rlimits (CPU, address space, file size, open files, threads, no core dumps);
3. identity: the sandbox uid (when the worker started as root), and no capabilities at all;
4. cwd = the call's output dir, HOME/TMPDIR there; no_new_privs; not dumpable (no ptrace or
   /proc/<pid>/mem by peers);
5. Landlock: read the interpreter and the call dir, write only its output dir, no TCP, no
   signals or abstract sockets outside the domain;
6. every fd closed but the two protocol pipes, stdio -> /dev/null;
7. seccomp: no processes, exec, sockets, ptrace, namespaces, ... (see `seccomp.py`).
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import tempfile
from dataclasses import dataclass

from . import landlock, seccomp
from .policy import Policy

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP = 1, 4, 38, 24
_libc = ctypes.CDLL(None, use_errno=True)
try:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        _CAP_LAST = int(f.read())
except OSError:
    _CAP_LAST = 63


def cpu_hard_limit(policy: Policy, calls: int) -> int:
    """RLIMIT_CPU hard limit of a process that may spend `calls` per-call budgets in total."""
    return math.ceil(policy.cpu_s) * calls + 1


def _close_fds(keep: list[int]) -> None:
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    lo = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 20)
    for fd in keep:
        os.set_inheritable(fd, False)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


def _drop_identity(run_as: int | None) -> None:
    for cap in range(_CAP_LAST + 1):  # bounding set (needs CAP_SETPCAP; a no-op without it)
        _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    if run_as is not None:
        os.setgroups([])
        os.setresgid(run_as, run_as, run_as)
        os.setresuid(run_as, run_as, run_as)  # clears the effective, permitted and ambient sets
    # Else uid stays (ours, or 0 when the sandbox uid cannot read the interpreter). Either way
    # empty every set, the inheritable one included (capset to zero is always allowed).
    zero = (ctypes.c_uint32 * 6)()
    if _libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), zero) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _set_limits(policy: Policy, baseline_vm: int, cpu_calls: int) -> None:
    cpu = math.ceil(policy.cpu_s)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard_limit(policy, cpu_calls)))
    mem = baseline_vm + policy.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    fsize = policy.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    # Counted per uid (per user namespace): other tasks of the sandbox uid (parked sessions,
    # reused processes, other workers) count too, so with threads on the limit is raised by
    # those that exist now; a bound, not a quota. With max_processes=1 seccomp refuses every
    # clone anyway and this only pins the hard limit.
    nproc = policy.max_processes
    if nproc > 1 and policy.run_as is not None:
        nproc += _tasks_of(policy.run_as)
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _tasks_of(uid: int) -> int:
    """Threads of every process whose real uid is `uid` (what RLIMIT_NPROC counts); ~2 ms."""
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if line.startswith(("Uid:", "Threads:")))
                if int(fields["Uid"].split()[0]) == uid:
                    n += int(fields["Threads"])
            except (OSError, KeyError, ValueError):
                continue
    return n


def static_rules(policy: Policy) -> list[tuple[str, int]]:
    """Landlock rules shared by every call: the interpreter and a few devices."""
    rules = [(p, landlock.READ) for p in policy.read_paths]
    rules += [("/dev/null", landlock.READ_FILE | landlock.WRITE_FILE)]
    return rules + [(p, landlock.READ_FILE) for p in ("/dev/zero", "/dev/urandom", "/dev/random")]


@dataclass
class Prepared:
    """What a warm worker computes once so that confining each child is cheap."""

    bpf: seccomp.Program
    rules: list[tuple[int, int]]  # static Landlock rules as open O_PATH fds
    baseline_vm: int  # the worker's address-space size: RLIMIT_AS = this + memory_mb
    landlock_abi: int  # the ABI every child restricts itself with (0 = none)


def landlock_abi(policy: Policy) -> int:
    """The ABI the host decided on, never more than the kernel has."""
    kernel = landlock.abi()
    return kernel if policy.landlock_abi is None else min(kernel, policy.landlock_abi)


def prepare(policy: Policy, sc: seccomp.Seccomp, baseline_vm: int) -> Prepared:
    bpf = sc.compile(allow_threads=policy.max_processes > 1)
    abi = landlock_abi(policy)
    return Prepared(bpf, landlock.open_rules(static_rules(policy), abi), baseline_vm, abi)


def confine(policy: Policy, prep: Prepared, call_dir: str, keep_fds: list[int], cpu_calls: int = 1) -> int:
    """Apply steps 1-7 to the calling process (which may spend `cpu_calls` per-call CPU budgets
    in its life). Returns the Landlock ABI used (0 = none)."""
    parent = os.getppid()
    os.setsid()
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the worker died between fork and prctl
        os._exit(1)
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # CPU limit -> terminate (Python ignores SIGXFSZ)
    _set_limits(policy, prep.baseline_vm, cpu_calls)
    _drop_identity(policy.run_as)
    out = os.path.join(call_dir, "output")
    os.chdir(out)  # after the uid switch: the output dir belongs to the sandbox uid
    os.environ.update(HOME=out, TMPDIR=out)
    tempfile.tempdir = None
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    call_rules = [(call_dir, landlock.READ_FILE | landlock.READ_DIR), (out, landlock.WRITE)]
    abi = landlock.restrict(call_rules, prep.rules, prep.landlock_abi)
    if abi == 0 and policy.require_landlock:
        raise OSError("Landlock is unavailable; refusing to run code without filesystem confinement")
    _close_fds(keep_fds)  # also closes the worker's rule fds and its end of the host pipes
    seccomp.install(prep.bpf, os.getpid())
    return abi
