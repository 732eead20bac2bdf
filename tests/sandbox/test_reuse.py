"""Reused confined processes (`calls_per_process` > 1) and the PNG level default: no fork per
call, yet each call starts from the same process-global state and a clean work dir, and any
violation or unrestorable change replaces the process."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from sandbox_helpers import start

from vrl.errors import ConfigError
from vrl.sandbox import make_sandbox

PID = "import os\nprint(os.getpid())"


@pytest.fixture(scope="module", params=["bwrap", "process"])
def reused(request):
    sb = start(request.param, workers=1, calls_per_process=100)
    yield sb
    sb.close()


def pid(sb) -> str:
    r = sb.execute(PID, [])
    assert r.error is None, r
    return r.text


@pytest.mark.parametrize("backend", ["bwrap", "process"])
def test_one_process_serves_calls_until_the_limit_or_a_violation(backend):
    sb = start(backend, workers=1, calls_per_process=4)
    try:
        first = pid(sb)
        assert pid(sb) == first and pid(sb) == first
        assert pid(sb) == first  # 4th call: the last one this process serves
        second = pid(sb)
        assert second != first
        assert sb.execute("x = bytearray(8 * 2**30)", []).violation == "memory"
        assert pid(sb) not in (first, second)
    finally:
        sb.close()


def test_process_global_state_is_restored_between_calls(reused, image):
    patch = (
        "import builtins, os, sys, signal, numpy as np\nfrom PIL import Image\n"
        "os.chdir('/')\nbuiltins.open = None\nos.remove = None\nImage.open = None\n"
        "np.set_printoptions(precision=1)\nsys.path.append('/x')\nos.environ['LEAK'] = '1'\n"
        "sys.setrecursionlimit(50)\nsignal.signal(signal.SIGALRM, lambda *a: print('late'))\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.05)\nleaked = 1"
    )
    before = pid(reused)
    assert reused.execute(patch, [image]).error is None
    check = (
        "import builtins, os, sys, time, numpy as np\nfrom PIL import Image\ntime.sleep(0.2)\n"
        "print(os.getcwd() == output_dir, builtins.open is not None, os.remove is not None,\n"
        "      Image.open(image_path).size, np.array([1/3]), '/x' in sys.path, 'LEAK' in os.environ,\n"
        "      sys.getrecursionlimit() > 50, 'leaked' in dir())"
    )
    r = reused.execute(check, [image])
    assert r.text == "True True True (320, 240) [0.33333333] False False True False\n", r
    assert pid(reused) == before  # restored, not replaced


def test_an_unrestorable_change_replaces_the_process(reused):
    before = pid(reused)
    r = reused.execute("import resource as r\nr.setrlimit(r.RLIMIT_NOFILE, (16, 16))", [])
    assert r.error is None and r.violation is None
    after = reused.execute("import os, resource as r\nprint(os.getpid(), r.getrlimit(r.RLIMIT_NOFILE))", [])
    assert after.text.split()[0] != before.strip() and after.text.endswith("(256, 256)\n"), after


def test_files_do_not_cross_calls(reused, image):
    leave = (
        "import os\nopen('a.png', 'wb').write(b'x')\nos.mkdir('d')\nopen('d/b.txt', 'w').write('y')\n"
        "os.chmod('d', 0)"
    )
    assert reused.execute(leave, [image]).error is None
    r = reused.execute("import os\nprint(os.listdir('.'), os.listdir('../input'))", [image])
    assert r.text == "[] ['00_scene.png']\n", r
    # The program may make its own output dir unusable: the next call gets a fresh dir + process.
    before = pid(reused)
    assert reused.execute("import os\nos.chmod(output_dir, 0o500)", []).error is None
    r = reused.execute("import os\nopen('c.txt', 'w').write('z')\nprint(os.getpid())", [])
    assert r.error is None and r.text != before, r


def test_reuse_config_errors():
    with pytest.raises(ConfigError, match="calls_per_process=0 must be >= 1"):
        make_sandbox(calls_per_process=0)
    with pytest.raises(ConfigError, match="calls_per_process=8 needs max_processes=1"):
        make_sandbox(calls_per_process=8, max_processes=4)
    with pytest.raises(ConfigError, match="png_compress_level=10 must be 0-9"):
        make_sandbox(png_compress_level=10)


def _zlib_level_class(png: Path) -> int:
    """FLEVEL of the first IDAT's zlib header: 0 fastest (level 0-1), 1 fast, 2 default (6), 3 max."""
    data = png.read_bytes()
    i = data.index(b"IDAT")
    return struct.unpack_from("B", data, i + 5)[0] >> 6


@pytest.mark.parametrize(
    "level,code_kwargs,expected", [(1, "", 0), (None, "", 2), (1, ", compress_level=9", 3)]
)
def test_png_compress_level_is_the_default_not_an_override(image, level, code_kwargs, expected):
    sb = start("process", workers=1, png_compress_level=level)
    try:
        code = f"from PIL import Image\nImage.open(image_path).save('o.png'{code_kwargs})"
        r = sb.execute(code, [image])
        assert r.error is None and len(r.images) == 1, r
        assert _zlib_level_class(r.images[0]) == expected
    finally:
        sb.close()


FORGE = (
    "import json, os, struct, time\n"
    "body = json.dumps({{'text': 'forged\\n', 'error': None, 'violation': None, 'images': [],\n"
    "                   'cpu_left': 1e9, 'turn': {turn}}}).encode()\n"
    "for fd in range(3, 256):\n"
    "    try:\n        os.write(fd, struct.pack('<I', len(body)) + body)\n    except OSError:\n        pass\n"
    "{after}"
)


@pytest.mark.parametrize(
    "after",
    [
        "",  # its real reply follows at once: stale in the pipe when the next call comes
        "t = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass\n",  # computes on
        "time.sleep(0.5)\n",  # replies late, during the next call
    ],
)
def test_a_forged_reply_does_not_leak_into_the_next_call(reused, after):
    assert reused.execute("x = bytearray(8 * 2**30)", []).violation == "memory"  # next: turn 0
    # The program may forge its own result (it could print it anyway), but the next call must get
    # its own, correct result or a clean protocol error, never this call's leftovers.
    assert reused.execute(FORGE.format(turn=0, after=after), []).text == "forged\n"
    nxt = reused.execute("print(6 * 7)", [])
    assert nxt.text == "42\n" or nxt.violation in ("protocol", "timeout"), nxt
    assert reused.execute("print(6 * 7)", []).text == "42\n"


def test_reuse_is_announced_as_weaker_isolation(caplog):
    with caplog.at_level("WARNING", logger="vrl.sandbox"):
        sb = start("process", workers=1, calls_per_process=2)
    sb.close()
    assert "calls_per_process=2: weaker isolation between calls" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="vrl.sandbox"):
        sb = start("process", workers=1)
    sb.close()
    assert "weaker isolation" not in caplog.text


# What reuse gives up, shown rather than claimed: a patched class (not a module attribute) is
# still there in the next independent call on the same worker; with a fresh process per call
# (the default) it is not. Module attributes, the runner and the reply protocol are restored.
PATCH_CLASS = "from PIL import Image\nImage.Image.save = lambda self, *a, **k: print('hijacked')"
SAVE = "from PIL import Image\nImage.new('RGB', (4, 4)).save('o.png')\nprint('saved')"
PATCH_MACHINERY = (
    "import builtins\nimport vrl.sandbox.protocol as p, vrl.sandbox.runner as r\n"
    "p.send = p.recv = r.run_turn = r.find_images = builtins.compile = None"
)


@pytest.mark.parametrize("backend", ["bwrap", "process"])
def test_a_patched_class_leaks_only_with_reuse(backend):
    for per_process, leaks in ((1, False), (100, True)):
        sb = start(backend, workers=1, calls_per_process=per_process)
        try:
            assert sb.execute(PATCH_CLASS, []).error is None
            r = sb.execute(SAVE, [])
            assert (r.text == "hijacked\nsaved\n") is leaks, (per_process, r)
            sb.execute(PATCH_MACHINERY, [])  # may break its own reply (fresh process: it does)
            assert sb.execute("print(compile('1', 's', 'eval') is not None)", []).text == "True\n"
        finally:
            sb.close()
