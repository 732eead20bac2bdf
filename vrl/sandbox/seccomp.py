"""A seccomp-bpf syscall filter for the process that runs model code, built with libseccomp via ctypes.

The filter allows by default and refuses, with an errno so Python raises a readable error, the
syscalls a confined image-editing program never needs and an attacker always wants: creating
processes (fork, vfork, clone without CLONE_THREAD, clone3, execve), sockets and io_uring,
debugging or signalling other processes (ptrace, process_vm_*, pidfd_*, kill/tgkill on any pid
but its own, prlimit64 on any pid but 0 = itself, SIGIO/SIGURG via F_SETOWN / F_SETOWN_EX /
F_SETSIG / FIOSETOWN / SIOCSPGRP), namespaces and mounts, identity changes (set*uid, capset),
kernel modules, bpf, perf, keyrings, clocks and terminal injection (TIOCSTI). Unix sockets: only
`socketpair` can make one, and nothing may name an address (connect, bind, sendto with an
address, sendmsg/sendmmsg whose address we cannot inspect): Landlock does not mediate path-named
unix sockets, so this is what keeps datagrams from reaching host services. Files: no setuid or
setgid bit, by chmod or at creation (a set-id file left in the output dir could be run by a local
user). Syscalls of a foreign architecture (i386 via int 0x80, x32) kill the process: libseccomp's
"bad arch" action.

libseccomp is the C library behind Docker/systemd filters; Debian ships it as `libseccomp2`, which
`apt` itself depends on, so it is present in every Debian image. No PyPI package is needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
from dataclasses import dataclass

ACT_KILL_PROCESS = 0x80000000
ACT_ALLOW = 0x7FFF0000
_ATTR_ACT_BADARCH = 2
_CMP_NE, _CMP_EQ, _CMP_MASKED_EQ = 1, 4, 7
_CLONE_THREAD = 0x00010000
_TIOCSTI = 0x5412
_FIOSETOWN, _SIOCSPGRP = 0x8901, 0x8902  # ioctl forms of F_SETOWN
_F_SETOWN, _F_SETSIG, _F_SETOWN_EX = 8, 10, 15
_S_ISUID, _S_ISGID = 0o4000, 0o2000
# Syscalls an older libseccomp may not name; numbers >= 424 are the same on every architecture.
_FALLBACK_NUMBERS = {"openat2": 437, "fchmodat2": 452}
# The mode argument (0-based index) of each call that sets or creates a file's mode.
_MODE_ARG = {"chmod": 1, "fchmod": 1, "fchmodat": 2, "open": 2, "openat": 3, "creat": 1}
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
PID_PLACEHOLDER = 0x7FFE_F00D  # > pid_max (2**22): never a real pid
_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def act_errno(code: int) -> int:
    """The libseccomp action 'fail the syscall with errno `code`'."""
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


# Refused outright with EPERM: nothing an image-editing program needs.
DENIED = (
    "fork vfork execve execveat ptrace process_vm_readv process_vm_writev pidfd_open pidfd_getfd "
    "pidfd_send_signal kcmp mount umount umount2 pivot_root chroot unshare setns swapon swapoff reboot "
    "kexec_load kexec_file_load init_module finit_module delete_module bpf perf_event_open userfaultfd "
    "keyctl add_key request_key acct quotactl quotactl_fd syslog settimeofday stime clock_settime "
    "clock_adjtime adjtimex iopl ioperm open_by_handle_at name_to_handle_at lookup_dcookie vhangup "
    "fanotify_init mknod mknodat setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid "
    "setfsgid capset move_mount open_tree fsopen fsconfig fsmount fspick mount_setattr memfd_secret "
    "process_madvise process_mrelease uselib sysfs vm86 vm86old modify_ldt io_uring_setup io_uring_enter "
    "io_uring_register personality setpriority ioprio_set sched_setscheduler sched_setparam sched_setattr "
    "migrate_pages move_pages sethostname setdomainname nfsservctl"
).split()


class Seccomp:
    """Loaded libseccomp; `compile(...)` builds the filter that `install` loads."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
        self.lib = ctypes.CDLL(name, use_errno=True)
        self.lib.seccomp_init.restype = ctypes.c_void_p
        self.lib.seccomp_init.argtypes = [ctypes.c_uint32]
        self.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmp),
        ]
        self.lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        self.lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.lib.seccomp_release.argtypes = [ctypes.c_void_p]
        self.lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        # Resolve names once in the warm worker so each confined child only adds rules.
        self.numbers = {
            n: self.lib.seccomp_syscall_resolve_name(n.encode())
            for n in [*DENIED, "clone", "clone3", "socket", "kill", "tkill", "tgkill"]
            + ["rt_sigqueueinfo", "rt_tgsigqueueinfo", "prlimit64", "ioctl", "fcntl", "fcntl64"]
            + ["connect", "bind", "sendto", "sendmsg", "sendmmsg", "openat2", "fchmodat2", *_MODE_ARG]
        }
        for name, nr in _FALLBACK_NUMBERS.items():
            if self.numbers[name] < 0:
                self.numbers[name] = nr

    def _rule(self, ctx: int, action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        nr = self.numbers.get(name, -1)
        if nr < 0:  # the syscall does not exist on this architecture
            return
        arr = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
        rc = self.lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0:
            raise OSError(-rc, f"seccomp_rule_add({name}) failed: {os.strerror(-rc)}")

    def compile(self, allow_threads: bool) -> Program:
        """The filter as raw BPF, with PID_PLACEHOLDER where the confined process's pid goes."""
        ctx = self.lib.seccomp_init(ACT_ALLOW)
        if not ctx:
            raise OSError("seccomp_init failed")
        try:
            self.lib.seccomp_attr_set(ctx, _ATTR_ACT_BADARCH, ACT_KILL_PROCESS)
            eperm, pid = act_errno(errno.EPERM), PID_PLACEHOLDER
            for name in DENIED:
                self._rule(ctx, eperm, name)
            self._rule(ctx, act_errno(errno.EACCES), "socket")
            # glibc's pthread_create falls back to clone() when clone3 says ENOSYS.
            self._rule(ctx, act_errno(errno.ENOSYS), "clone3")
            if allow_threads:  # a clone without CLONE_THREAD would be a new process
                self._rule(ctx, eperm, "clone", (0, _CMP_MASKED_EQ, _CLONE_THREAD, 0))
            else:
                self._rule(ctx, eperm, "clone")
            for name in ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
                self._rule(ctx, eperm, name, (0, _CMP_NE, pid, 0))
            self._rule(ctx, eperm, "prlimit64", (0, _CMP_NE, 0, 0))  # pid 0 = itself (what glibc passes)
            for cmd in (_TIOCSTI, _FIOSETOWN, _SIOCSPGRP):
                self._rule(ctx, eperm, "ioctl", (1, _CMP_MASKED_EQ, 0xFFFFFFFF, cmd))
            # F_SETOWN & co. make the kernel signal another process on I/O: the `kill` rules'
            # bypass (and Landlock < 6 does not scope it).
            for name in ("fcntl", "fcntl64"):
                for cmd in (_F_SETOWN, _F_SETSIG, _F_SETOWN_EX):
                    self._rule(ctx, eperm, name, (1, _CMP_EQ, cmd, 0))
            for name in ("connect", "bind", "sendmsg", "sendmmsg"):
                self._rule(ctx, eperm, name)
            self._rule(ctx, eperm, "sendto", (4, _CMP_NE, 0, 0))  # an address: not its own pair
            # Their mode/flags live in structs a filter cannot read: glibc falls back on ENOSYS.
            for name in ("openat2", "fchmodat2"):
                self._rule(ctx, act_errno(errno.ENOSYS), name)
            for name, arg in _MODE_ARG.items():  # any mode with a set-id bit (glibc passes 0 if unused)
                for bits in (_S_ISUID, _S_ISGID, _S_ISUID | _S_ISGID):
                    self._rule(ctx, eperm, name, (arg, _CMP_MASKED_EQ, _S_ISUID | _S_ISGID, bits))
            r, w = os.pipe()
            try:
                rc = self.lib.seccomp_export_bpf(ctx, w)
                os.close(w)
                w = -1
                if rc < 0:
                    raise OSError(-rc, f"seccomp_export_bpf failed: {os.strerror(-rc)}")
                chunks = []
                while chunk := os.read(r, 65536):
                    chunks.append(chunk)
                return Program.from_bpf(b"".join(chunks))
            finally:
                os.close(r)
                if w >= 0:
                    os.close(w)
        finally:
            self.lib.seccomp_release(ctx)


@dataclass(frozen=True)
class Program:
    """A compiled filter: raw BPF plus where the confined process's pid must be written."""

    insns: bytes
    pid_offsets: tuple[int, ...]

    @classmethod
    def from_bpf(cls, insns: bytes) -> Program:
        offsets = tuple(  # struct sock_filter {u16 code; u8 jt, jf; u32 k}: k at +4
            off + 4
            for off in range(0, len(insns), 8)
            if struct.unpack_from("=I", insns, off + 4)[0] == PID_PLACEHOLDER
        )
        if not offsets:
            raise OSError("seccomp program has no pid placeholder")
        return cls(insns, offsets)


def install(program: Program, pid: int) -> None:
    """Load a compiled filter into the calling process, `pid` patched in. Irreversible.

    Needs no_new_privs (set by the caller). Compiling once per warm worker and patching a few
    constants per child costs ~0.05 ms instead of ~2 ms for libseccomp's compiler.
    """
    buf = ctypes.create_string_buffer(program.insns, len(program.insns))
    for off in program.pid_offsets:
        struct.pack_into("=I", buf, off, pid)
    prog = _SockFprog(len(program.insns) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECCOMP) failed: {os.strerror(err)}")


def load() -> Seccomp | None:
    """libseccomp if it can be loaded, else None (the caller decides whether that is fatal)."""
    try:
        return Seccomp()
    except OSError:
        return None
