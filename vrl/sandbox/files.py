"""Host side of the per-call working directories: create, fill, copy images out, remove.

Layout of one call (or one persistent session) directory `W`:
  W/input/NN_<name>   copies of the caller's images: read-only to the program
  W/output/           its cwd and `output_dir`: the only place it can write
Every path the program reports is untrusted: `copy_out` opens it component by component with
O_NOFOLLOW beneath `W`, so symlinks or `..` cannot make the host read its own files. Whatever
the program left in `W` (a 3000-level directory chain, chmod 000 dirs, a million files) is
walked iteratively with a bounded number of open fds, never following symlinks.
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
            clear_dir(call / sub)
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
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_IMAGE_BYTES or st.st_mode & 0o6000:
                continue  # a set-id file is refused outright (the copy would not keep the bit anyway)
            target = dest / f"{stem}_{i}{os.path.splitext(norm)[1].lower()}"
            with open(target, "wb") as g:
                shutil.copyfileobj(f, g)
        out.append(target)
    return out


def _open_dir(name: str, dir_fd: int) -> int | None:
    """An O_RDONLY fd on the directory `name` in `dir_fd`, made 0700 first if the program left it
    unreadable to us; None if it is gone or not a directory (a symlink is never followed)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except PermissionError:
        pass
    except OSError:
        return None
    try:  # chmod through the O_PATH fd: the very inode we opened, even if renamed meanwhile
        path_fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        os.chmod(f"/proc/self/fd/{path_fd}", 0o700)
        return os.open(f"/proc/self/fd/{path_fd}", flags & ~os.O_NOFOLLOW)
    except OSError:
        return None
    finally:
        os.close(path_fd)


def _empty(top: int) -> None:
    """Remove everything inside the open directory `top`, however deep, iteratively: each
    subdirectory is first moved up into `top` (so at most two fds are open), then emptied."""
    pending = []
    tag = f".rm-{secrets.token_hex(8)}-"
    with os.scandir(top) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        if is_dir:
            pending.append(name)
        else:
            _unlink(name, top)
    while pending:
        name = pending.pop()
        d = _open_dir(name, top)
        if d is None:
            _unlink(name, top)
            continue
        try:
            if stat.S_IMODE(os.fstat(d).st_mode) & 0o700 != 0o700:
                os.chmod(f"/proc/self/fd/{d}", 0o700)  # we may need to write it (not root)
            with os.scandir(d) as entries:
                names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
            for child, is_dir in names:
                if is_dir:
                    hoisted = f"{tag}{len(pending)}-{secrets.token_hex(4)}"
                    try:
                        os.rename(child, hoisted, src_dir_fd=d, dst_dir_fd=top)
                        pending.append(hoisted)
                    except OSError:
                        pass
                else:
                    _unlink(child, d)
        except OSError:
            pass
        finally:
            os.close(d)
        try:
            os.rmdir(name, dir_fd=top)
        except OSError:
            pass


def _unlink(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def clear_dir(path: Path) -> None:
    """Empty the directory `path` (kept). Raises OSError only when `path` itself cannot be opened."""
    parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        top = _open_dir(path.name, parent)
        if top is None:
            raise NotADirectoryError(f"not a directory: {path}")
        try:
            _empty(top)
        finally:
            os.close(top)
    finally:
        os.close(parent)


def remove_tree(path: Path) -> None:
    """Remove `path` and everything under it whatever the program did to it (chmod 000 dirs,
    thousands of levels); best effort, never raises."""
    try:
        clear_dir(path)
    except NotADirectoryError:
        pass
    except OSError:
        return
    try:
        os.rmdir(path)
    except NotADirectoryError:
        _unlink(str(path), None)
    except OSError:
        pass


def count_entries(dir_fd: int, limit: int, max_depth: int = 64) -> int:
    """Entries (files, dirs, links, ...) under the open directory `dir_fd`; counting stops past
    `limit`. A directory we cannot open (the program made it unreadable to us) or nested deeper
    than `max_depth` counts as `limit + 1`: what it holds cannot be counted. Depth-first with one
    open directory per level (at most `max_depth`); `dir_fd` itself is left open."""
    count = 0
    levels: list[tuple[int, object]] = []
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        top = os.dup(dir_fd)
        os.lseek(top, 0, os.SEEK_SET)
        levels.append((top, os.scandir(top)))
        while levels:
            fd, entries = levels[-1]
            entry = next(entries, None)
            if entry is None:
                entries.close()
                os.close(fd)
                levels.pop()
                continue
            count += 1
            if count > limit:
                return count
            if entry.is_dir(follow_symlinks=False):
                if len(levels) >= max_depth:
                    return limit + 1
                try:
                    sub = os.open(entry.name, flags, dir_fd=fd)
                except FileNotFoundError:  # removed meanwhile
                    continue
                except OSError:
                    return limit + 1
                levels.append((sub, os.scandir(sub)))
    finally:
        for fd, entries in levels:
            entries.close()
            os.close(fd)
    return count
