"""What the tool layer relies on: images out, text out, short errors, sessions, threads, configs."""

from __future__ import annotations

import inspect
import logging
import threading

import pytest
from PIL import Image
from sandbox_helpers import start

from vrl.errors import ConfigError
from vrl.sandbox import ExecutionResult, make_sandbox
from vrl.sandbox.factory import process_unavailable_reason
from vrl.sandbox.policy import ERROR_CHARS

CROP = """
from PIL import Image
import os
img = Image.open(image_path)
crop = img.crop((100, 60, 180, 140)).resize((160, 160))
processed_path = os.path.join(output_dir, "crop.png")
crop.save(processed_path)
print("cropped", crop.size)
"""


def test_crop_and_save_returns_the_image(sandbox, image):
    r = sandbox.execute(CROP, [image])
    assert isinstance(r, ExecutionResult) and r.error is None and r.violation is None
    assert r.text == "cropped (160, 160)\n" and len(r.images) == 1 and r.wall_s > 0
    out = Image.open(r.images[0])
    assert out.size == (160, 160) and out.getpixel((80, 80)) == (220, 20, 20)
    assert r.images[0].parent == sandbox.out_dir


@pytest.mark.parametrize(
    "tail",
    ["print(os.path.join(output_dir, 'm.png'))", "print('saved to m.png')", "pass"],
    ids=["printed-absolute", "printed-relative", "new-file"],
)
def test_images_found_without_processed_path(sandbox, image, tail):
    code = f"from PIL import Image, ImageDraw\nimport os\nimg = Image.open(image_path)\nImageDraw.Draw(img).line((0, 0, 50, 50), fill=(0, 255, 0), width=3)\nimg.save('m.png')\n{tail}"
    r = sandbox.execute(code, [image])
    assert r.error is None and len(r.images) == 1
    assert Image.open(r.images[0]).getpixel((25, 25)) == (0, 255, 0)


def test_printing_text_returns_text(sandbox, image):
    r = sandbox.execute("from PIL import Image\nprint(Image.open(image_path).size)\nprint('done')", [image])
    assert (r.text, r.images, r.error, r.violation) == ("(320, 240)\ndone\n", [], None, None)


def test_several_images(sandbox, image, tmp_path):
    second = tmp_path / "b.jpg"
    Image.new("RGB", (10, 20)).save(second)
    r = sandbox.execute(
        "from PIL import Image\nprint([Image.open(p).size for p in image_paths])", [image, second]
    )
    assert r.text == "[(320, 240), (10, 20)]\n"


def test_errors_are_short_text(sandbox):
    r = sandbox.execute("x = 1\ny = x / 0", [])
    assert r.error == "ZeroDivisionError: division by zero (line 2)" and r.violation is None
    r = sandbox.execute("print('before')\nraise ValueError('v' * 5000)", [])
    assert r.text.startswith("before\nValueError: vvv") and len(r.error) <= ERROR_CHARS
    r = sandbox.execute("def f(:\n  pass", [])
    assert r.error.startswith("SyntaxError:") and "(line 1)" in r.error
    r = sandbox.execute("import no_such_module_xyz", [])
    assert r.error == "ModuleNotFoundError: No module named 'no_such_module_xyz' (line 1)"


def test_late_imports_and_numpy_work(sandbox, image):
    r = sandbox.execute(
        "import statistics, numpy as np\nfrom PIL import Image\na = np.asarray(Image.open(image_path))\nprint(a.shape, statistics.mean([1, 2]))",
        [image],
    )
    assert r.text == "(240, 320, 3) 1.5\n", r


def test_variables_do_not_leak_between_calls(sandbox):
    sandbox.execute("leaked = 1\nopen('left.txt', 'w').write('x')", [], session_id="s")
    r = sandbox.execute("import os\nprint('leaked' in dir(), os.listdir('.'))", [], session_id="s")
    assert r.text == "False []\n"


def test_persistence_across_turns(persistent_sandbox, image):
    sb = persistent_sandbox
    r1 = sb.execute(
        "from PIL import Image\nimg = Image.open(image_path)\nx = 41", [image], session_id="traj-1"
    )
    assert r1.error is None
    r2 = sb.execute(
        "print(x + 1, img.size)\ncrop = img.crop((0, 0, 10, 10))\ncrop.save('c.png')", [], session_id="traj-1"
    )
    assert r2.text == "42 (320, 240)\n" and len(r2.images) == 1
    r3 = sb.execute("import os\nprint(x, sorted(os.listdir('.')))", [], session_id="traj-1")
    assert r3.text == "41 ['c.png']\n"
    other = sb.execute("print(x)", [], session_id="traj-2")
    assert other.error == "NameError: name 'x' is not defined (line 1)"
    sb.close_session("traj-1")
    sb.close_session("traj-2")
    again = sb.execute("print(x)", [], session_id="traj-1")
    assert again.error and "NameError" in again.error
    sb.close_session("traj-1")


def test_session_survives_errors_but_not_violations(persistent_sandbox):
    sb = persistent_sandbox
    sb.execute("x = 1", [], session_id="s")
    assert sb.execute("1 / 0", [], session_id="s").error.startswith("ZeroDivisionError")
    assert sb.execute("print(x)", [], session_id="s").text == "1\n"
    r = sb.execute("x = bytearray(8 * 2**30)", [], session_id="s")
    assert r.violation == "memory" and "reset" in r.error
    assert "NameError" in sb.execute("print(x)", [], session_id="s").error
    sb.close_session("s")


def test_concurrent_calls_from_two_threads(sandbox, image):
    results: dict[int, list] = {0: [], 1: []}

    def worker(k: int) -> None:
        for i in range(8):
            code = f"from PIL import Image\nImage.open(image_path).crop((0, 0, {10 + i}, {20 + k})).save('o.png')\nprint({k}, {i})"
            results[k].append((i, sandbox.execute(code, [image])))

    threads = [threading.Thread(target=worker, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, rs in results.items():
        assert len(rs) == 8
        for i, r in rs:
            assert r.text == f"{k} {i}\n" and Image.open(r.images[0]).size == (10 + i, 20 + k), r


def test_missing_input_image_is_the_callers_error(sandbox, tmp_path):
    with pytest.raises(FileNotFoundError):
        sandbox.execute("pass", [tmp_path / "nope.png"])


def test_threads_allowed_and_bounded_when_configured(image):
    sb = start("process", workers=1, max_processes=4)
    try:
        code = "import threading\nts = [threading.Thread(target=lambda: None) for _ in range(2)]\nfor t in ts: t.start()\nfor t in ts: t.join()\nprint('ok')"
        assert sb.execute(code, []).text == "ok\n"
        bomb = (
            "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()"
        )
        r = sb.execute(bomb, [])
        assert r.error and "thread" in r.error
        assert sb.execute("import os; os.fork()", []).error
        assert sb.execute("print(1)", []).text == "1\n"
    finally:
        sb.close()


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="sandbox.backend='nope'"):
        make_sandbox(backend="nope")


def test_auto_logs_its_choice(caplog):
    with caplog.at_level(logging.INFO, logger="vrl.sandbox"):
        sb = make_sandbox(workers=1)
    try:
        assert sb.backend in ("bwrap", "process")
        assert f"sandbox backend: {sb.backend}" in caplog.text
    finally:
        sb.close()


def test_the_sandbox_option_carries_every_make_sandbox_setting_at_its_default():
    """`sandbox=local` composes to make_sandbox's own signature: one default per setting, in Python."""
    from vrl_testing import option_node

    cfg = option_node("sandbox", "local")
    assert cfg._target_ == "vrl.sandbox.make_sandbox"
    params = inspect.signature(make_sandbox).parameters
    assert set(cfg) - {"_target_"} == set(params)
    assert {key: cfg[key] for key in params} == {key: p.default for key, p in params.items()}
    assert cfg.backend == "auto" and cfg.max_files == 1000 and cfg.allow_weak_landlock is False


def test_each_call_gets_fresh_randomness(sandbox):
    code = "import random, numpy as np\nprint(random.random(), np.random.rand())"
    assert len({sandbox.execute(code, []).text for _ in range(3)}) == 3


def test_auto_falls_back_to_process_without_bwrap(monkeypatch, caplog):
    monkeypatch.setattr("vrl.sandbox.bwrap.shutil.which", lambda name: None)
    with pytest.raises(ConfigError, match="sandbox.backend=bwrap is unavailable: bwrap is not installed"):
        make_sandbox(backend="bwrap", workers=1)
    if process_unavailable_reason() is not None:
        pytest.skip("process backend unavailable too")
    with caplog.at_level(logging.INFO, logger="vrl.sandbox"):
        sb = make_sandbox(backend="auto", workers=1)
    try:
        assert sb.backend == "process" and "falling back to the process backend" in caplog.text
        assert sb.execute("print('ok')", []).text == "ok\n"
    finally:
        sb.close()
