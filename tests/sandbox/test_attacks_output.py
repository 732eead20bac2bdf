"""Attacks through what a call leaves or prints (each reproduced on the code before this
hardening): a deep directory chain, a flood of files, terminal escape sequences, output that
made the printed-path search quadratic. On both backends, fresh and reused processes."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from sandbox_helpers import assert_alive, start

from vrl.sandbox import files, runner, text
from vrl.sandbox.policy import IMAGE_SUFFIXES


def _leftovers(sb) -> list[str]:
    """Entries left in the output dirs of the sandbox's work dirs (no deep walk)."""
    found = []
    for worker in Path(sb._root).iterdir():
        if worker.is_dir():
            for call in worker.iterdir():
                if (call / "output").is_dir():
                    found += [f"{call.name}/{n}" for n in os.listdir(call / "output")]
    return found


# ----- directory chains and file floods -------------------------------------------------------
def test_a_deep_directory_chain_is_cleaned_up(sandbox):
    code = "import os\nfor i in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\nprint('deep')"
    r = sandbox.execute(code, [])  # raised RecursionError in the host's cleanup before
    assert r.violation in ("files", None), r
    assert _leftovers(sandbox) == []
    assert_alive(sandbox)


def test_remove_tree_and_scans_are_iterative(tmp_path):
    base = Path(tempfile.mkdtemp(dir="/dev/shm")) if os.path.isdir("/dev/shm") else tmp_path / "t"
    base.mkdir(exist_ok=True)
    fd = os.open(base, os.O_RDONLY)
    try:
        _chain(base, 3000)
        (base / "d").chmod(0)  # unreadable to a non-root host: made readable, then removed
        assert files.count_entries(fd, 10**6) == 10**6 + 1  # deeper than 64: uncountable = over
        assert len(runner._snapshot(str(base), limit=100)) <= 100
        files.remove_tree(base)
        assert not base.exists()
    finally:
        os.close(fd)


def _chain(base: Path, depth: int) -> None:
    here = os.open(base, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=here)
        nxt = os.open("d", os.O_RDONLY, dir_fd=here)
        os.close(here)
        here = nxt
    os.close(here)


def test_a_flood_of_files_is_stopped(sandbox):
    code = "i = 0\nwhile True:\n    open(f'f{i}', 'w').close()\n    i += 1"
    r = sandbox.execute(code, [])  # stopped by the count (max_files=100), not by the wall limit
    assert r.violation == "files" and "too many files" in r.error, r
    hidden = (
        "import os\nos.mkdir('h')\nfor i in range(300):\n    open(f'h/f{i}', 'w').close()\n"
        "os.chmod('h', 0)\nprint('hidden')"
    )
    r = sandbox.execute(hidden, [])
    assert r.violation == "files", r
    assert_alive(sandbox)


def test_files_under_the_limit_are_fine_and_a_session_recovers(persistent_sandbox):
    sb = persistent_sandbox
    r = sb.execute(
        "import os\nos.mkdir('a')\nfor i in range(50):\n    open(f'a/{i}.txt', 'w').close()", [], "s"
    )
    assert r.error is None, r
    r = sb.execute("for i in range(300):\n    open(f'{i}.txt', 'w').close()", [], "s")
    assert r.violation == "files", r
    r = sb.execute("import os\nprint(len(os.listdir('.')))", [], "s")
    assert r.text == "0\n", r  # the session's files were cleared with its variables
    sb.close_session("s")


# ----- terminal escapes -------------------------------------------------------------------------
ESCAPES = {
    "clear screen": "\x1b[2J\x1b[H",
    "OSC 52 clipboard": "\x1b]52;c;ZXZpbA==\x07",
    "OSC 8 hyperlink": "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "window title": "\x1b]0;pwned\x1b\\",
    "8-bit CSI": "\x9b2J",
    "bell and backspace": "\x07\x08",
    "bidi override": "\u202etxt.exe\u202c",
    "carriage return": "harmless\rEVIL",
}


@pytest.mark.parametrize("kind", list(ESCAPES))
def test_terminal_escapes_are_neutralised(sandbox, kind):
    seq = ESCAPES[kind]
    r = sandbox.execute(f"print('before' + {seq!r} + 'after')\nraise ValueError({seq!r})", [])
    for out in (r.text, r.error):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out), (kind, out)
    assert "before" in r.text and "after" in r.text
    if kind == "OSC 8 hyperlink":
        assert "click" in r.text and "evil.example" not in r.text
    if kind == "bidi override":
        assert "\\u202etxt.exe" in r.text
    assert_alive(sandbox)


def test_clean_keeps_plain_text():
    plain = "a (1, 2)\n\ttab é 漢字 ✓\n"
    assert text.clean(plain) == plain
    assert text.clean("\x1b[31mred\x1b[0m") == "red"
    assert text.clean("x\x1b]52;c;AAAA") == "x"  # unterminated: dropped to the end of its line


# ----- printed-path scanning ------------------------------------------------------------------------
OLD_REGEX = re.compile(r"[^\s'\"(),\[\]]+\.(?:" + "|".join(s[1:] for s in IMAGE_SUFFIXES) + r")\b", re.I)


@pytest.mark.parametrize("unit", ["a", "a.", "a.pn", "x.pngx", "/"])
def test_printed_path_scan_is_linear(unit):
    adversarial = unit * (2**20 // len(unit))
    t0 = time.perf_counter()
    runner.printed_paths(adversarial)
    assert time.perf_counter() - t0 < 0.5  # the old regex took seconds on 20 kB, hours on 1 MB


@pytest.mark.parametrize(
    "out",
    ["saved to /x/m.png.", "a.png,b.jpg c.PNG", "a.pngb.png", ".png x..png", "x.png.txt", "(out/y.webp)"],
)
def test_printed_paths_match_the_old_regex(out):
    assert runner.printed_paths(out) == OLD_REGEX.findall(out)


@pytest.mark.parametrize("backend", ["bwrap", "process"])
def test_a_megabyte_of_unbroken_output_returns_quickly(backend):
    sb = start(backend, workers=1, max_output_bytes=2**20, wall_s=5)
    try:
        t0 = time.monotonic()
        r = sb.execute("print('a' * (2**20 - 100))", [])
        assert r.error is None and len(r.text) > 10**6 and time.monotonic() - t0 < 2.0, r.violation
    finally:
        sb.close()
