"""Run one turn of model code inside the confined process and describe what it produced.

The program sees `image_path` (the first input image, read-only), `image_paths` (all of them)
and `output_dir` (its cwd, writable). Produced images are found as in Thyme: the variable
`processed_path` (a path or a list of paths), else image paths it printed, else image files it
created or changed in `output_dir`. Printed text is the result; an error is the last line of
its traceback (plus the line number), truncated.
"""

from __future__ import annotations

import builtins
import io
import itertools
import math
import os
import re
import resource
import sys
import traceback

from .policy import ERROR_CHARS, IMAGE_SUFFIXES, MAX_IMAGES, Policy

# A printed image path is a run of non-separators ending in `.png` etc. Found in two linear
# passes (split into runs, then the last suffix in each run) rather than by one regex like
# `[^\s...]+\.png\b`, which backtracks to every position of a long run: quadratic, so 70 kB of
# unbroken output held a worker for its whole wall limit.
_SEPARATORS = re.compile(r"[\s'\"(),\[\]]+")
_SUFFIX = re.compile(r"\.(?:" + "|".join(s[1:] for s in IMAGE_SUFFIXES) + r")\b", re.I)


class OutputLimit(BaseException):
    """Raised into the program when it prints more than the limit (not an Exception: harder to swallow)."""


class CappedWriter(io.TextIOBase):
    """stdout replacement keeping at most `limit` UTF-8 bytes."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size, self.parts, self.overflow = limit, 0, [], False

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        data = s.encode("utf-8", "replace")
        room = self.limit - self.size
        if len(data) > room:
            self.parts.append(data[: max(room, 0)].decode("utf-8", "ignore"))
            self.size, self.overflow = self.limit, True
            raise OutputLimit(f"output exceeded {self.limit} bytes")
        self.parts.append(s)
        self.size += len(data)
        return len(s)

    def text(self) -> str:
        return "".join(self.parts)


class _Discard(io.TextIOBase):
    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        return len(s)


def short_error(exc: BaseException) -> str:
    """`Type: message (line N)` of the program's own code, at most ERROR_CHARS characters."""
    try:
        if isinstance(exc, SyntaxError):
            line = f"SyntaxError: {exc.msg} (line {exc.lineno})"
        else:
            line = traceback.format_exception_only(type(exc), exc)[-1].strip()
            lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<code>"]
            if lines:
                line += f" (line {lines[-1]})"
    except BaseException:  # a hostile __str__
        line = type(exc).__name__
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 3] + "..."


def printed_paths(text: str) -> list[str]:
    """Image paths in printed text, in order, in linear time: in each run of non-separators, the
    run up to its last image suffix (if something precedes that suffix); the same matches as the
    regex `[^<separators>]+<suffix><word boundary>` that this replaces."""
    found = []
    for run in _SEPARATORS.split(text):
        end = None
        for m in _SUFFIX.finditer(run):
            if m.start() > 0:
                end = m.end()
        if end is not None:
            found.append(run[:end])
    return found


def _snapshot(root: str, limit: int = 2000) -> dict[str, tuple[int, int]]:
    """{path: (mtime_ns, size)} of the files under `root` (symlinks not followed); at most
    `limit` entries (files and dirs) are visited, however the program nested them."""
    seen: dict[str, tuple[int, int]] = {}
    stack = [root]
    visited = 0
    while stack and visited < limit:
        try:
            entries = list(itertools.islice(os.scandir(stack.pop()), limit - visited))
        except OSError:
            continue
        visited += len(entries)
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    st = e.stat(follow_symlinks=False)
                    seen[e.path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                continue
    return seen


def _is_image_file(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(path)


def find_images(ns: dict, stdout: str, before: dict, output_dir: str) -> list[str]:
    """Absolute paths of the produced images (Thyme's order of precedence)."""
    candidates: list[str] = []
    value = ns.get("processed_path")
    if value is not None:
        values = value if isinstance(value, (list, tuple)) else [value]
        candidates = [os.fspath(v) for v in values if isinstance(v, (str, os.PathLike))]
    if not candidates:
        candidates = printed_paths(stdout)
    if not candidates:
        after = _snapshot(output_dir)
        changed = [p for p, sig in after.items() if before.get(p) != sig]
        candidates = sorted(changed, key=lambda p: after[p][0])
    images: list[str] = []
    for c in candidates:
        path = os.path.abspath(os.path.join(output_dir, c))
        if path not in images and _is_image_file(path):
            images.append(path)
    return images[:MAX_IMAGES]


def run_turn(req: dict, ns: dict, policy: Policy, call_dir: str) -> dict:
    """Execute `req['code']` in `ns`; the result message for the worker."""
    output_dir = os.path.join(call_dir, "output")
    if req.get("images"):
        ns["image_paths"] = list(req["images"])
        ns["image_path"] = ns["image_paths"][0]
    ns.setdefault("image_paths", [])
    ns.setdefault("image_path", None)
    ns.update(output_dir=output_dir, __name__="__main__", __builtins__=builtins)
    ns.pop("processed_path", None)
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    resource.setrlimit(resource.RLIMIT_CPU, (min(hard, math.ceil(used + policy.cpu_s)), hard))
    before = _snapshot(output_dir)
    out = CappedWriter(policy.max_output_bytes)
    reserve = bytearray(1 << 20)  # freed on MemoryError so the report can still be built
    error = violation = None
    sys.stdout, sys.stderr = out, _Discard()  # stderr (warnings, logging) is not part of the result
    try:
        exec(compile(req["code"], "<code>", "exec"), ns)
    except OutputLimit:
        error, violation = f"output exceeded {policy.max_output_bytes} bytes", "output_limit"
    except MemoryError:
        del reserve
        ns.clear()
        error, violation = f"MemoryError: over the {policy.memory_mb} MB limit", "memory"
    except SystemExit as e:
        if e.code not in (None, 0):
            error = short_error(e)
    except BaseException as e:
        error = short_error(e)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    text = out.text()
    if out.overflow and violation is None:  # the program swallowed OutputLimit
        violation = "output_limit"
    try:
        images = find_images(ns, text, before, output_dir)
    except Exception:
        images = []
    cpu_left = hard - sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # a reused process's budget
    return {"text": text, "error": error, "violation": violation, "images": images, "cpu_left": cpu_left}
