"""What a confined program may use: limits chosen by the user plus paths decided by the backend.

The host builds one `Policy` per sandbox and hands it, as JSON, to every warm worker it starts.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

# A persistent session may spend this many per-call CPU budgets in total (RLIMIT_CPU hard limit).
SESSION_CPU_CALLS = 20
# A reused process (calls_per_process > 1) likewise: it is retired once less than one budget is
# left, so it serves ~cpu_s of CPU worth of calls, and code that outlives its call is cut short.
REUSED_CPU_CALLS = 2
# Errors come back as one line of at most this many characters.
ERROR_CHARS = 300
# At most this many images are returned by one call (V-Thinker allows 10 per trajectory).
MAX_IMAGES = 10
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class Policy:
    """Limits of one call and the filesystem view of the confined process."""

    cpu_s: float = 10.0
    """CPU seconds per call (RLIMIT_CPU; SIGXCPU then SIGKILL)."""
    wall_s: float = 10.0
    """Wall-clock seconds per call, enforced by the warm worker with SIGKILL."""
    memory_mb: int = 1024
    """Address space the program may add on top of the preloaded interpreter (RLIMIT_AS)."""
    max_processes: int = 1
    """1: no threads and no processes. >1: threads allowed (RLIMIT_NPROC), processes never."""
    max_output_bytes: int = 65536
    """Printed output kept per call; beyond it the program is stopped with 'output_limit'."""
    persistent: bool = False
    """Keep the process (and so the variables) of a session alive across its calls."""
    calls_per_process: int = 1
    """Independent calls one confined process serves (1 = a fresh process per call). More skips
    the fork per call, but a call then shares the interpreter that earlier calls on its worker
    ran in (modules, monkeypatches); replaced after any violation either way."""
    png_compress_level: int | None = 1
    """zlib level PIL writes PNGs at unless the program passes one (None = zlib's default, 6)."""
    read_paths: list[str] = field(default_factory=list)
    """Read-only (and import) access for the program: interpreter, stdlib, site-packages, libs."""
    run_as: int | None = None
    """uid/gid the program switches to (when started as root); None keeps the uid, minus capabilities."""
    require_landlock: bool = False
    """Refuse to run model code when the kernel has no Landlock (the process backend relies on it)."""
    landlock_abi: int | None = None
    """Landlock ABI the host checked and the workers use (at most the kernel's); None = the kernel's."""
    max_files: int = 1000
    """Entries (files, dirs, links) the program may have in its output dir; more stops it ("files")."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Policy:
        return cls(**json.loads(text))


def interpreter_paths() -> list[str]:
    """Directories the confined interpreter must read to import modules and load libraries."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    prefixes.add(str(Path(sys.executable).resolve().parent.parent))
    prefixes |= {str(Path(p).resolve()) for p in prefixes}  # a symlinked venv: its target too
    system = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache"]
    return sorted({str(Path(p)) for p in prefixes} | set(system))
