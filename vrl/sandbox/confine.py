"""Confine the freshly forked process that is about to run model code. Irreversible, in order:

1. own session, die with the worker, only the two protocol pipes kept, stdio -> /dev/null;
2. cwd = the call's output dir, HOME/TMPDIR there;
3. rlimits (CPU, address space, file size, open files, threads, no core dumps);
4. identity: the sandbox uid (when the worker started as root) or no capabilities at all;
5. no_new_privs, not dumpable (no ptrace or /proc/<pid>/mem by peers);
6. Landlock: read the interpreter and the call dir, write only its output dir, no TCP, no
   signals or abstract sockets outside the domain;
7. seccomp: no processes, exec, sockets, ptrace, namespaces, ... (see `seccomp.py`).
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import tempfile

from . import landlock
from .policy import SESSION_CPU_CALLS, Policy
from .seccomp import Seccomp

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP = 1, 4, 38, 24
_libc = ctypes.CDLL(None, use_errno=True)


def cpu_hard_limit(policy: Policy) -> int:
    calls = SESSION_CPU_CALLS if policy.persistent else 1
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


def _drop_identity(run_as: int | None) -> None:
    if run_as is not None:
        os.setgroups([])
        os.setresgid(run_as, run_as, run_as)
        os.setresuid(run_as, run_as, run_as)  # the kernel clears all capabilities here
        return
    if os.geteuid() == 0:  # stay uid 0 (interpreter unreadable otherwise) but with no capability
        for cap in range(64):
            _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        data = (ctypes.c_uint32 * 6)()
        if _libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")


def _set_limits(policy: Policy, baseline_vm: int) -> None:
    cpu = math.ceil(policy.cpu_s)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard_limit(policy)))
    mem = baseline_vm + policy.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    fsize = policy.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    if policy.max_processes > 1:  # counted per uid (per user namespace): a bound, not a quota
        resource.setrlimit(resource.RLIMIT_NPROC, (policy.max_processes, policy.max_processes))


def landlock_rules(policy: Policy, call_dir: str) -> list[tuple[str, int]]:
    rules = [(p, landlock.READ) for p in policy.read_paths]
    rules += [("/dev/null", landlock.READ_FILE | landlock.WRITE_FILE)]
    rules += [(p, landlock.READ_FILE) for p in ("/dev/zero", "/dev/urandom", "/dev/random")]
    rules += [(call_dir, landlock.READ_FILE | landlock.READ_DIR)]
    rules += [(os.path.join(call_dir, "output"), landlock.WRITE)]
    return rules


def confine(policy: Policy, call_dir: str, keep_fds: list[int], sc: Seccomp, baseline_vm: int) -> int:
    """Apply steps 1-7 to the calling process. Returns the Landlock ABI used (0 = none)."""
    parent = os.getppid()
    os.setsid()
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the worker died between fork and prctl
        os._exit(1)
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # CPU limit -> terminate (Python ignores SIGXFSZ)
    _close_fds(keep_fds)
    out = os.path.join(call_dir, "output")
    os.chdir(out)
    os.environ.update(HOME=out, TMPDIR=out)
    tempfile.tempdir = None
    _set_limits(policy, baseline_vm)
    _drop_identity(policy.run_as)
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    abi = landlock.restrict(landlock_rules(policy, call_dir))
    if abi == 0 and policy.require_landlock:
        raise OSError("Landlock is unavailable; refusing to run code without filesystem confinement")
    sc.install(allow_threads=policy.max_processes > 1)
    return abi
