"""Attacks on the host around the sandbox (each reproduced on the code before this hardening):
host files' metadata, set-id files, unix datagram sockets, F_SETOWN signals, deep directory
chains, file floods, terminal escapes, quadratic output scanning. Like `test_attacks.py`, each
runs on both backends, fresh and reused processes, and the next call must still work."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from sandbox_helpers import assert_alive, start

NOBODY = 65534


# ----- identity and host files --------------------------------------------------------------
def test_host_file_metadata_cannot_be_changed(sandbox, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s")
    secret.chmod(0o600)
    before = os.stat(secret)
    code = (
        "import os\nres = []\n"
        f"for f in (lambda p: os.chmod(p, 0o777), lambda p: os.utime(p, (0, 0)),\n"
        "          lambda p: os.setxattr(p, 'user.x', b'1'), lambda p: os.chown(p, 65534, 65534)):\n"
        f"    try:\n        f({str(secret)!r})\n        res.append('DONE')\n"
        "    except OSError as e:\n        res.append(type(e).__name__)\n"
        "print(res)"
    )
    r = sandbox.execute(code, [])
    after = os.stat(secret)
    assert "DONE" not in r.text, r
    assert (after.st_mode, after.st_mtime_ns, after.st_uid) == (
        before.st_mode,
        before.st_mtime_ns,
        before.st_uid,
    )
    assert os.listxattr(secret) == []
    assert_alive(sandbox)


def test_no_setuid_or_setgid_file_can_be_made(sandbox):
    code = (
        "import os, shutil\nshutil.copyfile('/bin/sh', 'sh')\nres = []\n"
        "for f in (lambda: os.chmod('sh', 0o4755), lambda: os.chmod('sh', 0o2755),\n"
        "          lambda: os.fchmod(os.open('sh', os.O_RDONLY), 0o6755),\n"
        "          lambda: os.close(os.open('new', os.O_CREAT | os.O_WRONLY, 0o4755)),\n"
        "          lambda: os.chmod('sh', 0o4755, follow_symlinks=False)):\n"
        "    try:\n        f()\n        res.append('DONE')\n"
        "    except (OSError, NotImplementedError) as e:\n        res.append(type(e).__name__)\n"
        "print(res, [oct(os.stat(n).st_mode & 0o6000) for n in sorted(os.listdir('.'))])"
    )
    r = sandbox.execute(code, [])
    if sandbox.backend == "bwrap" and "FileNotFoundError" in (r.error or ""):
        pytest.skip("no /bin/sh inside this bwrap view")
    assert r.error is None and "DONE" not in r.text and "0o4000" not in r.text and "0o2000" not in r.text, r
    assert_alive(sandbox)


def test_copy_out_refuses_setuid_files(tmp_path):
    from vrl.sandbox import files

    call = files.make_call_dir(tmp_path, None)
    for name, mode in (("suid.png", 0o4755), ("plain.png", 0o644)):
        (call / "output" / name).write_bytes(b"png")
        (call / "output" / name).chmod(mode)
    dest = tmp_path / "dest"
    dest.mkdir()
    out = files.copy_out(call, "/W", ["/W/output/suid.png", "/W/output/plain.png"], dest, "x")
    assert [p.name for p in out] == ["x_1.png"]


# ----- unix sockets ---------------------------------------------------------------------------
def test_unix_datagrams_cannot_reach_host_sockets(sandbox):
    # The host service's socket is reachable by any uid (0755 dir, 0777 socket): only the
    # sandbox's own rules may stop the datagram. Plus an abstract-namespace socket.
    d = Path(tempfile.mkdtemp(prefix="vrl-dgram-", dir="/tmp"))
    d.chmod(0o755)
    path, abstract = str(d / "s"), f"\0vrl-test-{uuid.uuid4().hex}"
    hosts = []
    for addr in (path, abstract):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(addr)
        s.settimeout(0.3)
        hosts.append(s)
    os.chmod(path, 0o777)
    try:
        code = (
            "import socket\nres = []\n"
            "a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "a.send(b'own'); res.append(b.recv(8))\n"  # its own pair still works
            f"for addr in ({path!r}, {abstract!r}):\n"
            "    for f in (lambda: a.sendto(b'x', addr), lambda: a.sendmsg([b'x'], [], 0, addr),\n"
            "              lambda: (a.connect(addr), a.send(b'x')),\n"
            "              lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0].sendto(b'x', addr)):\n"
            "        try:\n            f()\n            res.append('SENT')\n"
            "        except OSError as e:\n            res.append(type(e).__name__)\n"
            "print(res)"
        )
        r = sandbox.execute(code, [])
        assert r.text.startswith("[b'own'") and "SENT" not in r.text, r
        for s in hosts:
            with pytest.raises(socket.timeout):
                s.recv(16)
    finally:
        for s in hosts:
            s.close()
        os.unlink(path)
        d.rmdir()
    assert_alive(sandbox)


# ----- signals through file ownership -----------------------------------------------------------
F_SETOWN_ATTACK = (
    "import fcntl, os, socket, time\nres = []\n"
    "a, b = socket.socketpair()\n"
    "for f in (lambda: fcntl.fcntl(a, fcntl.F_SETOWN, {victim}), lambda: fcntl.fcntl(a, 10, 9),\n"  # 10 = F_SETSIG
    "          lambda: fcntl.ioctl(a, 0x8901, ({victim}).to_bytes(4, 'little'))):\n"  # FIOSETOWN
    "    try:\n        f()\n        res.append('SET')\n"
    "    except OSError as e:\n        res.append(type(e).__name__)\n"
    "fcntl.fcntl(a, fcntl.F_SETFL, os.O_ASYNC | os.O_NONBLOCK)\n"
    "b.send(b'x')\ntime.sleep(0.1)\nprint(res)"
)


@pytest.fixture
def victim():
    """A host process the sandbox uid could signal if nothing else stopped it (same uid)."""
    kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}
    proc = subprocess.Popen(["sleep", "30"], **kwargs)
    yield proc
    proc.kill()
    proc.wait()


def test_f_setown_cannot_signal_other_processes(sandbox, victim):
    r = sandbox.execute(F_SETOWN_ATTACK.format(victim=victim.pid), [])
    assert r.text.strip() == "['PermissionError', 'PermissionError', 'PermissionError']", r
    assert victim.poll() is None
    assert_alive(sandbox)


@pytest.mark.parametrize("backend", ["process", "process-reuse"])
def test_weak_landlock_is_refused_unless_accepted(backend, monkeypatch, caplog, victim):
    from vrl.errors import ConfigError

    monkeypatch.setattr("vrl.sandbox.landlock.abi", lambda: 5)  # a Linux 6.7-6.11 kernel
    with pytest.raises(ConfigError, match=r"Landlock ABI 5 < 6 .*sandbox.allow_weak_landlock=true"):
        start(backend, workers=1)
    sb = start(backend, workers=1, allow_weak_landlock=True)
    try:
        assert "signals and abstract sockets are not scoped" in caplog.text
        assert sb._workers[0].info["landlock"] == 5  # the workers really run without scoping
        r = sb.execute(F_SETOWN_ATTACK.format(victim=victim.pid), [])
        assert "SET" not in r.text.replace("PermissionError", ""), r
        assert victim.poll() is None
        assert_alive(sb)
    finally:
        sb.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root must be kept from running code as uid 0")
def test_process_backend_refuses_when_nobody_cannot_read_any_runtime(monkeypatch):
    from vrl.errors import ConfigError
    from vrl.sandbox import process

    monkeypatch.setattr(process, "nobody_can_run", lambda *a: "Permission denied")
    with pytest.raises(ConfigError, match=r"^sandbox.backend=process refuses to run code as root: .*bwrap$"):
        start("process", workers=1)
    monkeypatch.setattr(process.runtime, "build", lambda: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(ConfigError, match="copying it for nobody failed .disk full"):
        start("process", workers=1)
