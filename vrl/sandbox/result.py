"""What one execution returns, and the protocol every sandbox backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class ExecutionResult:
    """The outcome of one `Sandbox.execute` call."""

    text: str
    """stdout (truncated to max_output_bytes), followed by the short error when there is one;
    terminal escape sequences removed, other control characters shown escaped (`text.py`)."""
    images: list[Path] = field(default_factory=list)
    """Produced images, copied out of the sandbox into a caller-owned directory."""
    error: str | None = None
    """Short error text (last traceback line, truncated), None if the code ran cleanly."""
    violation: str | None = None
    """The limit that was hit: "timeout" | "cpu_time" | "memory" | "output_limit" | "files" |
    "killed" | "protocol" | "setup" | "worker_lost"; None otherwise."""
    wall_s: float = 0.0
    """Wall-clock seconds of the whole call as seen by the caller (queueing included)."""

    @property
    def ok(self) -> bool:
        return self.error is None


class Sandbox(Protocol):
    """Runs untrusted Python that edits images (V-Thinker / Thyme tool calls)."""

    backend: str

    def execute(self, code: str, image_paths: list[Path], session_id: str | None = None) -> ExecutionResult:
        """Run `code` with `image_path`/`image_paths` (read-only copies) and `output_dir` defined."""
        ...

    def close_session(self, session_id: str) -> None:
        """Forget a persistent session: its process, variables and files."""
        ...

    def close(self) -> None:
        """Stop every worker and remove the sandbox's temporary directories."""
        ...
