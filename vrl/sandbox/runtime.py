"""A copy of the Python runtime that the sandbox uid can read (process backend, started as root).

The process backend runs model code as `nobody` when the trainer is root. When the interpreter
lives where `nobody` cannot reach it (pyenv under a 0700 /root), running the code as uid 0
instead is not an option: uid 0 without capabilities still owns every root file on the host
(chmod, utime, setxattr on anything it can name; a setuid-root binary left in its output dir).
So we build a runtime `nobody` can read: a root-owned, 0755 directory holding the interpreter,
libpython, the standard library (without its tests, IDLE, tkinter, ensurepip, lib2to3 and the
static library) and the imaging packages with their dependencies (`DISTRIBUTIONS`). Files are
hard-linked where possible (instant; a link shares the original's owner and mode, which `nobody`
cannot change), else copied. One copy per trainer process, removed at exit.

Code under this runtime can import the standard library and those packages only.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import os
import re
import shutil
import stat
import sys
import sysconfig
import tempfile
from pathlib import Path

# What the confined code may import besides the stdlib (the preloaded imaging stack), if installed.
DISTRIBUTIONS = (
    "numpy",
    "pillow",
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)
_SKIP_STDLIB = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3"}
_cache: dict[tuple, Path] = {}


def _place(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst`, or copy it when a link would expose a writable/set-id file."""
    st = os.lstat(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        return
    if not stat.S_ISREG(st.st_mode):
        return
    if not st.st_mode & 0o6022:  # no set-id, no group/other write: safe to share the inode
        try:
            os.link(src, dst)
            return
        except OSError:  # another filesystem, or links not allowed here
            pass
    shutil.copyfile(src, dst)
    os.chmod(dst, stat.S_IMODE(st.st_mode) & 0o755)


def _copy_tree(src: Path, dst: Path, skip: set[str] = frozenset()) -> None:
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in skip and not d.startswith("config-")]
        for name in files:
            _place(Path(root) / name, dst / rel / name)
        for name in dirs:  # symlinked dirs are not walked into: recreate the link
            if os.path.islink(os.path.join(root, name)):
                _place(Path(root) / name, dst / rel / name)


def _distributions(names: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """The installed ones among `names` and, transitively, what they require (extras ignored)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = dist
        for req in dist.requires or []:
            if "extra ==" not in req and (m := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)):
                todo.append(m.group(0))
    return list(found.values())


def build(names: tuple[str, ...] = DISTRIBUTIONS) -> tuple[str, list[str], dict[str, str]]:
    """(interpreter, read paths, extra environment) of a runtime copy `nobody` can read.

    Raises OSError when it cannot be built (no space, a read-only temp dir, ...).
    """
    key = (sys.base_prefix, sys.prefix, names)
    root = _cache.get(key)
    if root is None or not root.is_dir():
        root = _make(names)
        _cache[key] = root
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    exe = root / "bin" / version
    return str(exe), [str(root)], {"LD_LIBRARY_PATH": str(root / "lib")}


def _make(names: tuple[str, ...]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="vrl-sandbox-runtime-"))
    creator = os.getpid()
    atexit.register(lambda: os.getpid() == creator and shutil.rmtree(root, ignore_errors=True))
    try:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        lib = root / "lib"
        _place(Path(os.path.realpath(sys.executable)), root / "bin" / version)
        soname = sysconfig.get_config_var("INSTSONAME")
        libdir = sysconfig.get_config_var("LIBDIR")
        if sysconfig.get_config_var("Py_ENABLE_SHARED") and soname and libdir:
            _place(Path(libdir) / soname, lib / soname)
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        _copy_tree(stdlib, lib / version, _SKIP_STDLIB)
        site = lib / version / "site-packages"
        site.mkdir(parents=True, exist_ok=True)
        for dist in _distributions(names):
            base = Path(dist.locate_file("")).resolve()
            for f in dist.files or []:
                src = Path(dist.locate_file(f)).resolve()
                if src.is_relative_to(base) and src.is_file():
                    _place(src, site / src.relative_to(base))
        for d, _, _ in os.walk(root):  # explicit: the trainer's umask may be 077
            os.chmod(d, 0o755)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root
