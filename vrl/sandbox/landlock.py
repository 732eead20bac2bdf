"""Landlock (Linux >= 5.13): unprivileged filesystem, TCP and signal confinement, via ctypes.

After `restrict(...)` the calling process (and anything it creates) can open only files beneath
the given paths with the given rights, whatever its uid, even root. ABI 4 adds TCP bind/connect
(we grant none), ABI 6 adds scoping: no signals to, and no abstract unix sockets of, processes
outside the domain. Rights the running kernel does not know are simply not enforced, so the
function reports the ABI it used. chmod/chown and reading metadata are not covered by Landlock.
"""

from __future__ import annotations

import ctypes
import os
import stat

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # same on all arches
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = READ_FILE | READ_DIR | EXECUTE
WRITE = (
    READ_FILE | READ_DIR | WRITE_FILE | TRUNCATE | REMOVE_FILE | REMOVE_DIR | MAKE_REG | MAKE_DIR | MAKE_SYM
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi() -> int:
    """Landlock ABI version of the running kernel; 0 when Landlock is absent or disabled."""
    v = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(v))


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock {what}: {os.strerror(err)}")
    return rc


def open_rules(rules: list[tuple[str, int]], version: int) -> list[tuple[int, int]]:
    """[(O_PATH fd, rights)] for the paths that exist, rights trimmed to files' subset and to
    what ABI `version` knows.

    A warm worker opens its static rules once; each child then only adds its call dir.
    """
    fs = _FS_BY_ABI.get(version, _FS_BY_ABI[5]) if version else 0
    opened = []
    for path, rights in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        allowed = rights & fs
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            allowed &= _FILE_RIGHTS
        opened.append((fd, allowed))
    return opened


def restrict(
    rules: list[tuple[str, int]], opened: list[tuple[int, int]] = (), version: int | None = None
) -> int:
    """Confine the calling process to `rules` [(path, rights)] plus `opened` [(fd, rights)],
    using at most ABI `version` (None: the kernel's).

    Missing paths are skipped. Returns the ABI used (0 = Landlock unavailable, nothing done).
    Irreversible. The fds in `opened` stay open (the caller owns them).
    """
    version = abi() if version is None else min(version, abi())
    if version == 0:
        return 0
    fs = _FS_BY_ABI.get(version, _FS_BY_ABI[5])
    attr = _RulesetAttr(fs=fs)
    size = 8
    if version >= 4:
        attr.net, size = _NET_BIND_TCP | _NET_CONNECT_TCP, 16
    if version >= 6:
        attr.scoped, size = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL, 24
    ruleset = _check(
        _libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
        "create_ruleset",
    )
    mine = open_rules(rules, version)
    try:
        for fd, allowed in [*opened, *mine]:
            rule = _PathBeneath(allowed=allowed & fs, parent_fd=fd)
            _check(
                _libc.syscall(
                    _SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)
                ),
                "add_rule",
            )
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(_libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "restrict_self")
    finally:
        os.close(ruleset)
        for fd, _ in mine:
            os.close(fd)
    return version
