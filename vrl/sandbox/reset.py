"""What a reused process (`calls_per_process` > 1) puts back after each independent call.

Ordinary programs change process-global state that would silently alter the next call on the
same worker: `os.chdir`, a patched `open` or `PIL.Image.open`, `numpy.set_printoptions`, a
lowered rlimit, an alarm. `Baseline` snapshots that state once, right after confinement, and
restores it after every call; when it cannot (a hard rlimit was lowered, the cwd is gone) the
process asks to be recycled. This undoes accidents, not attacks: code that wants to leave
something behind for later calls (a patched class such as `PIL.Image.Image`, the `Baseline`
class itself, an object reachable from `gc`) can, which is why `calls_per_process: 1` (a fresh
process per call) stays the default and reuse is logged as a WARNING at start.
"""

from __future__ import annotations

import os
import resource
import signal
import sys

# Module namespaces restored entry by entry (the objects they hold are not deep-copied).
MODULES = (
    "builtins",
    "os",
    "os.path",
    "io",
    "math",
    "random",
    "json",
    "re",
    "numpy",
    "PIL.Image",
    "PIL.ImageDraw",
    "PIL.ImageOps",
    "PIL.ImageFilter",
    "PIL.ImageEnhance",
    "PIL.ImageFont",
    "PIL.ImageChops",
    "cv2",
    # the sandbox's own modules: the runner (its `compile`, `exec`), the reply protocol
    "vrl.sandbox.runner",
    "vrl.sandbox.protocol",
    "vrl.sandbox.worker",
    "vrl.sandbox.reset",
)
LIMITS = tuple(
    getattr(resource, n)
    for n in ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_STACK")
)
SIGNALS = (signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF, signal.SIGINT, signal.SIGTERM, signal.SIGXCPU)
TIMERS = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)


class Baseline:
    """Process-global state of a freshly confined process, restorable between calls."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.modules = {n: (m, dict(m.__dict__)) for n in MODULES if (m := sys.modules.get(n)) is not None}
        self.path = list(sys.path)
        self.recursion = sys.getrecursionlimit()
        self.limits = {r: resource.getrlimit(r) for r in LIMITS}
        self.handlers = {s: signal.getsignal(s) for s in SIGNALS}
        self.environ = dict(os.environ)
        np = sys.modules.get("numpy")
        self.numpy = (np.get_printoptions(), np.geterr()) if np is not None else None

    def restore(self) -> bool:
        """Put everything back; False when that is impossible and the process must be replaced."""
        try:
            for t in TIMERS:
                signal.setitimer(t, 0)
            for s, h in self.handlers.items():
                signal.signal(s, h)
            for name, (module, saved) in self.modules.items():
                sys.modules[name] = module
                current = module.__dict__
                for key in [k for k in current if k not in saved]:
                    del current[key]
                current.update(saved)
            sys.path[:] = self.path
            sys.setrecursionlimit(self.recursion)
            os.environ.clear()
            os.environ.update(self.environ)
            if self.numpy is not None:
                np = sys.modules["numpy"]
                np.set_printoptions(**self.numpy[0])
                np.seterr(**self.numpy[1])
            for r, (soft, hard) in self.limits.items():
                if resource.getrlimit(r) != (soft, hard):
                    resource.setrlimit(r, (soft, hard))  # raises when the hard limit was lowered
            os.chdir(self.cwd)
            return os.getcwd() == self.cwd
        except BaseException:
            return False
