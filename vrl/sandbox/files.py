"""Host side of the per-call working directories: create, fill, copy images out, remove.

Layout of one call (or one persistent session) directory `W`:
  W/input/NN_<name>   copies of the caller's images: read-only to the program
  W/output/           its cwd and `output_dir`: the only place it can write
Every path the program reports is untrusted: `copy_out` opens it component by component with
O_NOFOLLOW beneath `W`, so symlinks or `..` cannot make the host read its own files.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from pathlib import Path

from .policy import IMAGE_SUFFIXES

MAX_IMAGE_BYTES = 64 * 2**20


def make_call_dir(worker_dir: Path, run_as: int | None) -> Path:
    """A fresh W under `worker_dir` with an unguessable name."""
    call = worker_dir / secrets.token_hex(8)
    os.mkdir(call)
    os.mkdir(call / "input")
    os.mkdir(call / "output", 0o700)
    for d in (call, call / "input"):  # explicit: the trainer's umask may be 077
        os.chmod(d, 0o755)
    if run_as is not None:
        os.chown(call / "output", run_as, run_as)
    return call


def reset_call_dir(call: Path, worker_dir: Path, run_as: int | None) -> Path:
    """Empty W/input and W/output for the next call of a reused process. If the program left W
    in a state we cannot restore exactly (modes, owners, undeletable entries), W is replaced by
    a fresh dir, which the worker serves with a fresh process (its Landlock rules name the old)."""
    try:
        for sub in ("input", "output"):
            with os.scandir(call / sub) as entries:
                for e in list(entries):
                    if e.is_dir(follow_symlinks=False):
                        remove_tree(Path(e.path))
                    else:
                        os.unlink(e.path)
        top, inp, out = os.lstat(call), os.lstat(call / "input"), os.lstat(call / "output")
        owner = os.getuid() if run_as is None else run_as
        intact = all(stat.S_ISDIR(d.st_mode) and stat.S_IMODE(d.st_mode) == 0o755 for d in (top, inp))
        intact &= stat.S_ISDIR(out.st_mode) and stat.S_IMODE(out.st_mode) == 0o700 and out.st_uid == owner
        if intact and not os.listdir(call / "input") and not os.listdir(call / "output"):
            return call
    except OSError:
        pass
    remove_tree(call)
    return make_call_dir(worker_dir, run_as)


def add_inputs(call: Path, images: list[Path]) -> list[str]:
    """Copy the caller's images into W/input (read-only); returns their names there."""
    start = len(os.listdir(call / "input"))
    names = []
    for i, src in enumerate(images, start=start):
        name = f"{i:02d}_{re.sub(r'[^A-Za-z0-9._-]', '_', src.name)[-80:]}"
        dst = call / "input" / name
        shutil.copyfile(src, dst)
        dst.chmod(0o444)
        names.append(name)
    return names


def _open_beneath(root: Path, rel: str) -> int:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise OSError(f"path escapes the work dir: {rel}")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)


def copy_out(call: Path, sandbox_call: str, reported: list[str], dest: Path, stem: str) -> list[Path]:
    """Copy the images the program reported (sandbox paths) to `dest`; skips anything unsafe."""
    out: list[Path] = []
    prefix = sandbox_call.rstrip("/") + "/"
    for i, path in enumerate(reported):
        norm = os.path.normpath(path)
        if not norm.startswith(prefix) or not norm.lower().endswith(IMAGE_SUFFIXES):
            continue
        try:
            fd = _open_beneath(call, norm[len(prefix) :])
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_IMAGE_BYTES:
                continue
            target = dest / f"{stem}_{i}{os.path.splitext(norm)[1].lower()}"
            with open(target, "wb") as g:
                shutil.copyfileobj(f, g)
        out.append(target)
    return out


def remove_tree(path: Path) -> None:
    """rmtree that also removes what the program made unreadable (chmod 000 dirs)."""

    def fix(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
                shutil.rmtree(p, ignore_errors=True)
            else:
                func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=fix)
