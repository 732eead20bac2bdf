"""The warm worker: a fork server that never runs model code itself.

Started once per pool slot (inside bwrap, or as a plain process), it imports PIL/numpy/math
(and cv2 when installed, `preload.py`), then serves requests from the host on stdin/stdout.
Each call runs in a child forked from it (~2 ms: the imports are inherited), which confines
itself (`confine.py`) before touching the code. The child is discarded after the call; or, for
a persistent session, parked until the session's next call; or, with `calls_per_process` > 1,
kept as the worker's "spare" to serve the next independent calls in the same work dir (a fresh
namespace per call, no fork). A child that hits a limit, dies or sends garbage is killed: the
process that ran the code is what gets recycled. The worker enforces wall time with SIGKILL
and reports `violation`; while it waits it also counts the entries of the call's output dir
every `POLL_S` (and once after the reply) and kills a child that made more than `max_files`.

Requests: {"op": "exec", "dir", "code", "images", "session"}, {"op": "close", "session"},
{"op": "ping"}. Replies: {"text", "error", "violation", "images", "reset"} / {"ok": true}.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import os
import random
import select
import signal
import sys
import time

from . import files, protocol, seccomp
from .confine import confine, cpu_hard_limit, prepare
from .policy import REUSED_CPU_CALLS, SESSION_CPU_CALLS, Policy
from .preload import preload
from .reset import Baseline
from .runner import run_turn

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
# How often the output dir is counted while a call runs: a program creating files as fast as it
# can overshoots `max_files` by what it makes in this time (~1-2k empty files), then is killed.
POLL_S = 0.025


class TooManyFiles(Exception):
    """The call's output dir holds more than `max_files` entries."""


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
    """A confined process that runs model code: one call, one session's calls (`keep_vars`), or
    up to `turns` independent calls in one work dir (a fresh namespace each)."""

    def __init__(self, worker: Worker, call_dir: str, keep_vars: bool, turns: int) -> None:
        req_r, self.req_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.call_dir, self.keep_vars, self.turns = call_dir, keep_vars, turns
        self.cpu_calls = SESSION_CPU_CALLS if keep_vars else REUSED_CPU_CALLS if turns > 1 else 1
        self.served = 0
        self.idle_ticks = -1  # its CPU ticks when it last replied (a reused process must not run idle)
        self.pid = os.fork()
        if self.pid == 0:
            code = 70
            try:
                os.close(self.req_w)
                os.close(self.res_r)
                worker.child_main(call_dir, req_r, res_w, keep_vars, turns, self.cpu_calls)
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
        self.prep = prepare(policy, sc, _vm_bytes())
        self.landlock = self.prep.landlock_abi
        self.sessions: dict[str, Child] = {}
        self.spare: Child | None = None  # a reusable process that served fewer than calls_per_process
        self.dead: list[int] = []  # killed children not reaped yet

    def reap(self) -> None:
        while self.dead:
            os.waitpid(self.dead.pop(), 0)

    def child_main(
        self, call_dir: str, req_r: int, res_w: int, keep_vars: bool, turns: int, cpu_calls: int
    ) -> None:
        try:
            confine(self.policy, self.prep, call_dir, [req_r, res_w], cpu_calls)
        except Exception as e:  # never run code half-confined
            protocol.recv(req_r)
            protocol.send(res_w, _failure(f"sandbox setup failed: {type(e).__name__}: {e}", "setup"))
            return
        baseline = Baseline() if turns > 1 and not keep_vars else None
        ns: dict = {}
        for turn in range(turns):
            try:
                req = protocol.recv(req_r)
            except EOFError:
                return
            if not keep_vars:
                ns = {}
            if turn == 0 or not keep_vars:
                _reseed()
            reply = run_turn(req, ns, self.policy, call_dir)
            reply["turn"] = req.get("turn")
            if baseline is not None and not baseline.restore():
                reply["recycle"] = True
            protocol.send(res_w, reply)

    def _child_for(self, req: dict, session: str | None) -> Child:
        """The session's parked process, the spare for this work dir, or a new fork."""
        if session:
            child = self.sessions.pop(session, None)
            return child or Child(self, req["dir"], keep_vars=True, turns=1 << 62)
        child, self.spare = self.spare, None
        # A process with a reply pending or CPU used since it replied is still running code
        # (it forged a reply): drop it.
        if (
            child is not None
            and child.call_dir == req["dir"]
            and not select.select([child.res_r], [], [], 0)[0]
            and _cpu_ticks(child.pid) <= child.idle_ticks + 2
        ):
            return child
        if child is not None:  # or the host moved this worker's reuse dir: start over
            self._drop(child)
        return Child(self, req["dir"], keep_vars=False, turns=self.policy.calls_per_process)

    def _drop(self, child: Child) -> None:
        """Kill a process that finished its call; it is reaped after the reply (off the critical path)."""
        child.discard()
        self.dead.append(child.pid)

    def _stop(self, child: Child) -> None:
        """Kill a process stopped mid-call and wait until it is gone: the host clears its output
        dir after the reply, so nothing it still does may land there afterwards."""
        child.kill()

    def execute(self, req: dict) -> dict:
        session = req.get("session") if self.policy.persistent else None
        try:
            child = self._child_for(req, session)
        except OSError as e:
            return {**_failure(f"could not start the sandboxed process: {e}", "killed"), "reset": False}
        deadline = time.monotonic() + self.policy.wall_s
        limit = 4 * self.policy.max_output_bytes + (1 << 20)
        turn = {"code": req["code"], "images": req.get("images", []), "turn": child.served}
        cpu_left = 0.0
        out_fd = _open_output(req["dir"])
        if out_fd is None:  # nothing could bound its files: do not run it
            self._drop(child)
            return {
                **_failure("sandbox setup failed: cannot open the output dir", "setup"),
                "reset": child.keep_vars,
            }
        try:
            protocol.send_nonblocking(child.req_w, turn, deadline)
            self._await(child.res_r, deadline, out_fd)
            raw = protocol.recv(child.res_r, deadline, limit)
            self._count(out_fd)  # what it made just before replying
            if raw.get("turn") != child.served:  # a late reply to an earlier call of a reused process
                raise protocol.ProtocolError("reply to another call")
            reply = {
                "text": str(raw.get("text", ""))[: self.policy.max_output_bytes * 2],
                "error": None if raw.get("error") is None else str(raw["error"]),
                "violation": None if raw.get("violation") is None else str(raw["violation"]),
                "images": [str(p) for p in raw.get("images", [])][:16],
            }
            cpu_left = float(raw.get("cpu_left", 0.0))  # its own claims: a lie only recycles it sooner
            cpu_left = 0.0 if raw.get("recycle") else cpu_left
        except TimeoutError:
            self._stop(child)
            reply = _failure(f"timeout: the code ran longer than {self.policy.wall_s:g} s", "timeout")
        except TooManyFiles:
            self._stop(child)
            n = self.policy.max_files
            reply = _failure(f"too many files: over {n} entries (or 64 levels) in the output dir", "files")
        except (EOFError, OSError):  # died before replying
            status, cpu = child.kill()
            reply = self._death(status, cpu, child.cpu_calls)
        except protocol.ProtocolError as e:
            self._stop(child)
            reply = _failure(f"the sandboxed process sent an invalid reply ({e})", "protocol")
        except (TypeError, ValueError, OverflowError):  # a cpu_left that is not a number
            self._stop(child)
            reply = _failure("the sandboxed process sent an invalid reply (cpu_left)", "protocol")
        else:
            child.served += 1
            if reply["violation"] is None:
                if child.keep_vars:
                    self.sessions[session] = child
                    return {**reply, "reset": False}
                if child.served < child.turns and cpu_left >= self.policy.cpu_s + 1:
                    self.spare = child  # each call must get its full cpu_s (RLIMIT_CPU is cumulative)
                    child.idle_ticks = _cpu_ticks(child.pid)
                    return {**reply, "reset": False}
            self._drop(child)
        finally:
            os.close(out_fd)
        if child.keep_vars and reply["violation"] is not None and reply["error"]:
            reply["error"] += " (the session's variables were reset)"
        return {**reply, "reset": child.keep_vars}

    def _await(self, fd: int, deadline: float, out_fd: int) -> None:
        """Until `fd` is readable: TimeoutError at `deadline`, TooManyFiles as soon as seen."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if select.select([fd], [], [], min(POLL_S, left))[0]:
                return
            self._count(out_fd)

    def _count(self, out_fd: int) -> None:
        try:
            over = files.count_entries(out_fd, self.policy.max_files) > self.policy.max_files
        except OSError:  # fail closed: what we cannot count may be anything
            over = True
        if over:
            raise TooManyFiles

    def _death(self, status: int, cpu: float, calls: int) -> dict:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            hard = cpu_hard_limit(self.policy, calls)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= hard - 0.5):
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
        if self.spare is not None:
            self.spare.kill()


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a child in clock ticks (readable without ptrace rights); huge if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 1 << 62


def _open_output(call_dir: str) -> int | None:
    """An fd on the call's output dir, opened before the code runs: it keeps working whatever
    mode the program then gives the dir. None if it cannot be opened."""
    try:
        return os.open(
            os.path.join(call_dir, "output"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
    except OSError:
        return None


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
        preload(policy.png_compress_level)
        worker = Worker(policy)
        gc.freeze()  # children inherit these objects; the GC then never writes to (copies) them
    except Exception as e:
        protocol.send(wfd, {"ready": False, "error": f"{type(e).__name__}: {e}"})
        raise SystemExit(1) from None
    protocol.send(wfd, {"ready": True, "landlock": worker.landlock, "pid": os.getpid(), "uid": os.getuid()})
    worker.serve(rfd, wfd)
