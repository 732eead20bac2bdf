"""The host side: a pool of warm workers behind the `Sandbox` protocol, safe to call from threads.

Each worker (`worker.py`) serves one call at a time. A call takes a free worker, gets a fresh
work dir under that worker's directory, and comes back with the images copied to `out_dir`.
With `calls_per_process` > 1 a worker's independent calls share one work dir instead, emptied
after every call (its reused process is confined to it; a new dir means a new process).
With `persistent=True` a session is bound to one worker (the least loaded) until
`close_session`; its work dir and its process persist between calls. A worker that stops
answering or answers garbage is killed and restarted (its sessions start over).
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from . import files, protocol, text
from .policy import Policy
from .result import ExecutionResult

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
REPLY_GRACE_S = 10.0  # worker bookkeeping on top of the call's wall time


class WorkerProcess:
    """One warm worker process and its directory on the host."""

    def __init__(self, argv: list[str], env: dict[str, str], host_dir: Path, sandbox_dir: str) -> None:
        self.host_dir, self.sandbox_dir = host_dir, sandbox_dir
        self.sessions: set[str] = set()
        self.busy = False
        self.reuse_dir: Path | None = None  # the work dir of its reused process (calls_per_process > 1)
        host_dir.mkdir(mode=0o711, exist_ok=True)
        host_dir.chmod(0o711)  # the code may traverse, not list: other calls' dirs stay unguessable
        self.log_path = host_dir.parent / f"{host_dir.name}.log"
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=host_dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        os.set_blocking(self.proc.stdin.fileno(), False)  # a stuck worker cannot block the trainer
        self.info: dict = {}

    def wait_ready(self) -> None:
        try:
            self.info = protocol.recv(self.proc.stdout.fileno(), time.monotonic() + START_TIMEOUT_S)
        except (EOFError, TimeoutError, protocol.ProtocolError) as e:
            self.kill()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(
                f"sandbox worker failed to start ({type(e).__name__}): {' | '.join(tail)}"
            ) from None
        if not self.info.get("ready"):
            self.kill()
            raise RuntimeError(f"sandbox worker failed to start: {self.info.get('error')}")

    def request(self, msg: dict, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        protocol.send_nonblocking(self.proc.stdin.fileno(), msg, deadline)
        return protocol.recv(self.proc.stdout.fileno(), deadline)

    def kill(self, grace_s: float = 0.0) -> None:
        """Stop the worker: EOF on its stdin lets it kill and reap its children and exit;
        after `grace_s` (at once by default) its whole process group is SIGKILLed."""
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(grace_s) if grace_s > 0 else None
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        self.proc.stdout.close()


def _kill_all(workers: list[WorkerProcess], root: Path, out_dir: Path | None) -> None:
    for w in workers:  # all stdins first: the workers wind down in parallel
        if not w.proc.stdin.closed:
            w.proc.stdin.close()
    for w in workers:
        w.kill(grace_s=2.0)
    files.remove_tree(root)
    if out_dir is not None:
        files.remove_tree(out_dir)


class SandboxPool:
    """`Sandbox` implementation shared by both backends (they differ in how a worker starts)."""

    def __init__(
        self,
        backend: str,
        policy: Policy,
        start: Callable[[Path], tuple[list[str], dict[str, str], str]],
        workers: int,
        out_dir: str | None,
    ) -> None:
        self.backend, self.policy, self._start = backend, policy, start
        self._root = Path(tempfile.mkdtemp(prefix="vrl-sandbox-"))
        self._root.chmod(0o711)
        own_out = out_dir is None
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="vrl-sandbox-images-"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self._sessions: dict[str, tuple[WorkerProcess, Path]] = {}
        self._closed = False
        self._workers = [self._spawn(i) for i in range(max(1, workers))]
        self._finalizer = weakref.finalize(
            self, _kill_all, self._workers, self._root, self.out_dir if own_out else None
        )
        try:
            for w in self._workers:
                w.wait_ready()
        except Exception:
            self.close()
            raise
        info = self._workers[0].info
        if not info.get("landlock"):
            log.warning(
                "sandbox %s: no Landlock in this kernel; calls of one worker are kept apart only "
                "by unguessable directory names and file modes",
                backend,
            )
        log.info(
            "sandbox %s: %d workers, landlock ABI %s, code uid %s",
            backend,
            len(self._workers),
            info.get("landlock"),
            policy.run_as,
        )

    def _spawn(self, index: int) -> WorkerProcess:
        host_dir = self._root / f"w{index}-{secrets.token_hex(4)}"
        argv, env, sandbox_dir = self._start(host_dir)
        return WorkerProcess(argv, env, host_dir, sandbox_dir)

    # ----- worker selection -------------------------------------------------------------
    def _acquire(self, session: str | None) -> tuple[WorkerProcess, Path | None]:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the sandbox is closed")
                if session is not None and session in self._sessions:
                    w, call = self._sessions[session]
                elif session is not None:  # bind a new session to the least loaded worker
                    w = min(self._workers, key=lambda x: (len(x.sessions), x.busy))
                    call = files.make_call_dir(w.host_dir, self.policy.run_as)
                    w.sessions.add(session)
                    self._sessions[session] = (w, call)
                else:
                    w = next((x for x in self._workers if not x.busy), None)
                    call = None
                if w is not None and not w.busy:
                    w.busy = True
                    return w, call
                self._cond.wait()

    def _release(self, w: WorkerProcess) -> None:
        with self._cond:
            w.busy = False
            self._cond.notify_all()

    def _restart(self, w: WorkerProcess, reason: str) -> WorkerProcess:
        """Replace a broken worker; its sessions are forgotten (their next call starts over)."""
        log.warning("sandbox worker %s restarted: %s", w.host_dir.name, reason)
        w.kill()
        files.remove_tree(w.host_dir)
        new = self._spawn(self._workers.index(w))
        new.wait_ready()
        with self._cond:
            for s in w.sessions:
                self._sessions.pop(s, None)
            self._workers[self._workers.index(w)] = new
            new.busy = True
        return new

    # ----- Sandbox protocol ---------------------------------------------------------------
    def execute(self, code: str, image_paths: list[Path], session_id: str | None = None) -> ExecutionResult:
        t0 = time.monotonic()
        inputs = [Path(p) for p in image_paths]
        for p in inputs:
            if not p.is_file():
                raise FileNotFoundError(f"sandbox input image not found: {p}")
        session = session_id if self.policy.persistent else None
        w, call = self._acquire(session)
        own_call = call is None
        reuse = own_call and self.policy.calls_per_process > 1
        try:
            if reuse:
                call = w.reuse_dir = w.reuse_dir or files.make_call_dir(w.host_dir, self.policy.run_as)
            elif call is None:
                call = files.make_call_dir(w.host_dir, self.policy.run_as)
            sandbox_call = f"{w.sandbox_dir}/{call.name}"
            names = files.add_inputs(call, inputs)
            msg = {"op": "exec", "dir": sandbox_call, "code": code, "session": session}
            msg["images"] = [f"{sandbox_call}/input/{n}" for n in names]
            try:
                reply = w.request(msg, self.policy.wall_s + REPLY_GRACE_S)
            except (OSError, EOFError, TimeoutError, protocol.ProtocolError) as e:
                w = self._restart(w, f"{type(e).__name__} {e}")
                reply = {"error": "the sandbox worker failed and was restarted", "violation": "worker_lost"}
            stem = f"{int(time.time() * 1000)}_{secrets.token_hex(4)}"
            images = files.copy_out(call, sandbox_call, list(reply.get("images", [])), self.out_dir, stem)
            if reply.get("violation") == "files" and session is not None:
                try:  # else the session's next call is over the limit again
                    files.clear_dir(call / "output")
                except OSError:
                    pass
        finally:
            try:
                if reuse and call is not None and call.parent == w.host_dir:  # (else a restart removed it)
                    w.reuse_dir = None  # made again by the next call if resetting fails
                    w.reuse_dir = files.reset_call_dir(call, w.host_dir, self.policy.run_as)
                elif own_call and call is not None:
                    files.remove_tree(call)
            finally:
                self._release(w)
        # Untrusted text on its way to logs and terminals: no escape sequences (`text.py`).
        error = None if reply.get("error") is None else text.clean(str(reply["error"]))
        out = text.clean(str(reply.get("text", "")))
        return ExecutionResult(
            text=(out if not out or out.endswith("\n") else out + "\n") + error if error else out,
            images=images,
            error=error,
            violation=None if reply.get("violation") is None else text.clean(str(reply["violation"])),
            wall_s=time.monotonic() - t0,
        )

    def close_session(self, session_id: str) -> None:
        with self._cond:
            if session_id not in self._sessions:
                return
        w, call = self._acquire(session_id)
        try:
            w.request({"op": "close", "session": session_id}, REPLY_GRACE_S)
        except (OSError, EOFError, TimeoutError, protocol.ProtocolError) as e:
            w = self._restart(w, f"{type(e).__name__} {e}")
        finally:
            with self._cond:
                self._sessions.pop(session_id, None)
                w.sessions.discard(session_id)
            files.remove_tree(call)
            self._release(w)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._finalizer()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
