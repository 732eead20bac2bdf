"""The warm worker: a fork server that never runs model code itself.

Started once per pool slot (inside bwrap, or as a plain process), it imports PIL/numpy/math
(and cv2 when installed), then serves requests from the host on stdin/stdout. Each call runs in
a child forked from it (~2 ms: the imports are inherited), which confines itself
(`confine.py`) before touching the code and is discarded after the call, or, for a persistent
session, parked until the session's next call. A child that hits a limit, dies or sends garbage
is killed: the process that ran the code is what gets recycled. The worker enforces wall time
with SIGKILL and reports `violation`.

Requests: {"op": "exec", "dir", "code", "images", "session"}, {"op": "close", "session"},
{"op": "ping"}. Replies: {"text", "error", "violation", "images", "reset"} / {"ok": true}.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import os
import random
import signal
import sys
import time

from . import landlock, protocol, seccomp
from .confine import confine, cpu_hard_limit, prepare
from .policy import Policy
from .runner import run_turn

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4


def preload() -> None:
    """Import what model code typically uses, single-threaded, and run its common paths once:
    a child pays ~10x for code its worker never ran (lazy imports, caches, copy-on-write)."""
    import io
    import json
    import math  # noqa: F401

    json.dumps(_failure("warm-up", "none"))
    compile("x = 1", "<code>", "exec")
    random.seed(0)
    try:
        import numpy
        from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps  # noqa: F401

        Image.init()  # register every image plugin now, not in the confined child
        numpy.random.seed(0)
        img = Image.new("RGB", (64, 48), "white")
        ImageDraw.Draw(img).line((0, 0, 63, 47), fill=(255, 0, 0), width=2)
        ImageDraw.Draw(img).text((2, 2), "A", fill=(0, 0, 0))
        for fmt in ("PNG", "JPEG"):
            buf = io.BytesIO()
            img.save(buf, fmt)
            buf.seek(0)
            with Image.open(buf) as im:
                im.crop((8, 8, 40, 40)).resize((64, 64), Image.BICUBIC).convert("L")
        numpy.asarray(img).mean()
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(0)
    except ImportError:
        pass


def _reseed() -> None:
    """Forked children would all inherit the worker's RNG state: give each its own."""
    seed = int.from_bytes(os.urandom(4), "little")
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class Child:
    """A confined process that runs model code (one call, or one session's calls)."""

    def __init__(self, worker: Worker, call_dir: str, persistent: bool) -> None:
        req_r, self.req_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.persistent = persistent
        self.pid = os.fork()
        if self.pid == 0:
            code = 70
            try:
                os.close(self.req_w)
                os.close(self.res_r)
                worker.child_main(call_dir, req_r, res_w, persistent)
                code = 0
            finally:
                os._exit(code)
        os.close(req_r)
        os.close(res_w)
        fcntl.fcntl(self.req_w, fcntl.F_SETFL, os.O_NONBLOCK)

    def discard(self) -> None:
        """SIGKILL it now; the worker reaps it after replying (teardown is off the critical path)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for fd in (self.req_w, self.res_r):
            os.close(fd)

    def kill(self) -> tuple[int, float]:
        """SIGKILL and reap; returns (wait status, CPU seconds used)."""
        self.discard()
        _, status, usage = os.wait4(self.pid, 0)
        return status, usage.ru_utime + usage.ru_stime


class Worker:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        sc = seccomp.load()
        if sc is None:
            raise OSError("libseccomp.so.2 not found: install the Debian package libseccomp2")
        self.landlock = landlock.abi()
        self.prep = prepare(policy, sc, _vm_bytes())
        self.sessions: dict[str, Child] = {}
        self.dead: list[int] = []  # killed children not reaped yet

    def reap(self) -> None:
        while self.dead:
            os.waitpid(self.dead.pop(), 0)

    def child_main(self, call_dir: str, req_r: int, res_w: int, persistent: bool) -> None:
        try:
            confine(self.policy, self.prep, call_dir, [req_r, res_w])
        except Exception as e:  # never run code half-confined
            protocol.recv(req_r)
            protocol.send(res_w, _failure(f"sandbox setup failed: {type(e).__name__}: {e}", "setup"))
            return
        _reseed()
        ns: dict = {}
        while True:
            try:
                req = protocol.recv(req_r)
            except EOFError:
                return
            protocol.send(res_w, run_turn(req, ns, self.policy, call_dir))
            if not persistent:
                return

    def execute(self, req: dict) -> dict:
        session = req.get("session") if self.policy.persistent else None
        child = self.sessions.pop(session, None) if session else None
        if child is None:
            try:
                child = Child(self, req["dir"], persistent=session is not None)
            except OSError as e:
                return {**_failure(f"could not start the sandboxed process: {e}", "killed"), "reset": False}
        deadline = time.monotonic() + self.policy.wall_s
        limit = 4 * self.policy.max_output_bytes + (1 << 20)
        turn = {"code": req["code"], "images": req.get("images", [])}
        try:
            protocol.send_nonblocking(child.req_w, turn, deadline)
            reply = protocol.recv(child.res_r, deadline, limit)
            reply = {
                "text": str(reply.get("text", ""))[: self.policy.max_output_bytes * 2],
                "error": None if reply.get("error") is None else str(reply["error"]),
                "violation": None if reply.get("violation") is None else str(reply["violation"]),
                "images": [str(p) for p in reply.get("images", [])][:16],
            }
        except TimeoutError:
            child.discard()
            self.dead.append(child.pid)
            reply = _failure(f"timeout: the code ran longer than {self.policy.wall_s:g} s", "timeout")
        except (EOFError, OSError):  # died before replying
            status, cpu = child.kill()
            reply = self._death(status, cpu)
        except protocol.ProtocolError as e:
            child.discard()
            self.dead.append(child.pid)
            reply = _failure(f"the sandboxed process sent an invalid reply ({e})", "protocol")
        else:
            if child.persistent and reply["violation"] is None:
                self.sessions[session] = child
                return {**reply, "reset": False}
            child.discard()
            self.dead.append(child.pid)
        if child.persistent and reply["violation"] is not None and reply["error"]:
            reply["error"] += " (the session's variables were reset)"
        return {**reply, "reset": child.persistent}

    def _death(self, status: int, cpu: float) -> dict:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= cpu_hard_limit(self.policy) - 0.5):
                return _failure(f"CPU time limit of {self.policy.cpu_s:g} s exceeded", "cpu_time")
            return _failure(f"the process was killed by {signal.Signals(sig).name}", "killed")
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        return _failure(f"the process exited with status {code} before returning a result", "killed")

    def close(self, session: str) -> None:
        child = self.sessions.pop(session, None)
        if child is not None:
            child.kill()

    def serve(self, rfd: int, wfd: int) -> None:
        while True:
            try:
                req = protocol.recv(rfd)
            except EOFError:
                break
            op = req.get("op")
            if op == "exec":
                protocol.send(wfd, self.execute(req))
                self.reap()
            elif op == "close":
                self.close(str(req.get("session")))
                protocol.send(wfd, {"ok": True})
            elif op == "ping":
                protocol.send(wfd, {"ok": True, "sessions": len(self.sessions)})
            else:
                protocol.send(wfd, {"ok": False, "error": f"unknown op {op!r}"})
        for session in list(self.sessions):
            self.close(session)


def _failure(error: str, violation: str) -> dict:
    return {"text": "", "error": error, "violation": violation, "images": []}


def main() -> None:
    """Entry point inside the sandbox: `main()` with the policy JSON as argv[1]."""
    policy = Policy.from_json(sys.argv[1])
    libc = ctypes.CDLL(None)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the host
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace or /proc/<pid>/mem by same-uid peers
    rfd, wfd = os.dup(0), os.dup(1)  # protocol on private fds; stdio itself -> /dev/null
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    try:
        preload()
        worker = Worker(policy)
        gc.freeze()  # children inherit these objects; the GC then never writes to (copies) them
    except Exception as e:
        protocol.send(wfd, {"ready": False, "error": f"{type(e).__name__}: {e}"})
        raise SystemExit(1) from None
    protocol.send(wfd, {"ready": True, "landlock": worker.landlock, "pid": os.getpid(), "uid": os.getuid()})
    worker.serve(rfd, wfd)
