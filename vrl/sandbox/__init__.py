"""Isolated execution of model-written Python that edits images (V-Thinker / Thyme tool calls).

`make_sandbox(...)` returns a `Sandbox` whose `execute(code, image_paths, session_id)` runs the
code in a confined process forked from a warm worker (a fresh one per call by default; with
`calls_per_process` > 1 one process serves several calls) and returns an `ExecutionResult`.
Backends: `bwrap` (namespaces, the default where available) and `process` (Landlock + seccomp +
rlimits, for clusters without user namespaces). Only stdlib imports here: the package is also
imported inside the sandbox by the worker.
"""

from .factory import make_sandbox
from .pool import SandboxPool
from .result import ExecutionResult, Sandbox

__all__ = ["ExecutionResult", "Sandbox", "SandboxPool", "make_sandbox"]
