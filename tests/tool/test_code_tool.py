"""The V-Thinker / Thyme code tool: fence extraction, and real calls through the sandbox."""

from __future__ import annotations

import pytest
from PIL import Image

from vrl.errors import ConfigError
from vrl.sandbox import make_sandbox
from vrl.tool import CodeTool, extract_code

CROP = "<code>\n```python\nfrom PIL import Image\nim = Image.open(image_path)\nim.crop((0, 0, 20, 10)).save('out.png')\nprocessed_path = 'out.png'\n```\n</code>"


@pytest.fixture(scope="module")
def sandbox():
    box = make_sandbox("auto", workers=1, persistent=True)
    yield box
    box.close()


def test_extract_code_default_and_custom_fence():
    assert extract_code(CROP).startswith("from PIL import Image\nim = Image.open")
    assert extract_code("<code>\n```py\nx = 1\n```\n</code>") == "x = 1"
    assert extract_code("<code>x = 1</code>") is None
    assert extract_code("<code>```python\n\n```</code>") is None
    assert extract_code("<code>[[x = 2]]</code>", r"\[\[(.*?)\]\]") == "x = 2"


def test_bad_config_is_a_one_line_error():
    with pytest.raises(ConfigError, match="fence_pattern"):
        CodeTool(fence_pattern="(unclosed")
    with pytest.raises(ConfigError, match="needs a group"):
        CodeTool(fence_pattern="```.*```")
    with pytest.raises(ConfigError, match="input_image"):
        CodeTool(input_image="first")


def test_image_text_error_and_persistent_variables(sandbox):
    tool = CodeTool()
    image = Image.new("RGB", (64, 48), (0, 128, 0))
    result = tool.execute(CROP, [image], "traj-1", sandbox)
    assert result.ok and result.image.size == (20, 10) and result.image.getpixel((3, 3)) == (0, 128, 0)
    text = tool.execute("<code>\n```python\nk = 41\nprint(k + 1)\n```\n</code>", [image], "traj-1", sandbox)
    assert text.ok and text.image is None and text.text.strip() == "42"
    again = tool.execute("<code>\n```python\nprint(k * 2)\n```\n</code>", [image], "traj-1", sandbox)
    assert again.text.strip() == "82"  # variables persist within a trajectory's session
    error = tool.execute("<code>\n```python\nprint(1 / 0)\n```\n</code>", [image], "traj-2", sandbox)
    assert not error.ok and "ZeroDivisionError" in error.text
    assert tool.execute("<code>no fence</code>", [image], "traj-2", sandbox).error == "no code block"
    tool.close_session("traj-1", sandbox)


def test_current_image_is_the_latest(sandbox):
    tool = CodeTool()
    first, latest = Image.new("RGB", (64, 48)), Image.new("RGB", (30, 20))
    size = "<code>\n```python\nfrom PIL import Image\nprint(Image.open(image_path).size)\n```\n</code>"
    assert tool.execute(size, [first, latest], "s", sandbox).text.strip() == "(30, 20)"
    assert (
        CodeTool(input_image="original").execute(size, [first, latest], "s2", sandbox).text.strip()
        == "(64, 48)"
    )


def test_needs_a_sandbox():
    with pytest.raises(ConfigError, match="sandbox"):
        CodeTool().execute(CROP, [Image.new("RGB", (8, 8))], "s", None)


# ----- produced images are decoded on the host: sizes first, errors as tool errors -------------
def _png(path, width: int, height: int, color_type: int = 0, bit_depth: int = 8) -> None:
    """A real all-zero PNG of any size, written row by row (never the whole image in memory)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = {0: 1, 2: 3}[color_type]
    row = b"\0" * (1 + (width * channels * bit_depth + 7) // 8)  # filter byte + pixels
    z, idat = zlib.compressobj(9), []
    for _ in range(height):
        idat.append(z.compress(row))
    idat.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")
    )


class _Produces:
    """A stand-in sandbox whose program 'produced' a given file."""

    def __init__(self, path):
        self.path = path

    def execute(self, code, paths, session_id):
        from vrl.sandbox import ExecutionResult

        return ExecutionResult(text="", images=[self.path])


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if any pixel is decoded (PIL decodes in ImageFile.load)."""
    from PIL import ImageFile

    def load(self):
        raise AssertionError(f"decoded a {self.size} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_a_png_bomb_is_a_tool_error(tmp_path, no_decoding):
    bomb = tmp_path / "bomb.png"
    _png(bomb, 20000, 20000, bit_depth=1)  # 400 M pixels in ~50 kB: PIL raises DecompressionBombError
    assert bomb.stat().st_size < 100_000
    result = CodeTool().execute(CROP, [Image.new("RGB", (8, 8))], "s", _Produces(bomb))
    assert result.error == "unreadable image" and "20000x20000" in result.text and result.image is None
    assert not bomb.exists()  # the copied-out file is still removed


def test_a_huge_png_is_refused_before_decoding(tmp_path, no_decoding):
    huge = tmp_path / "huge.png"
    _png(huge, 13000, 13000)  # 169 M pixels, under PIL's bomb limit: it would decode 0.5 GB as RGB
    result = CodeTool().execute(CROP, [Image.new("RGB", (8, 8))], "s", _Produces(huge))
    assert result.error == "unreadable image" and "pixel limit" in result.text


def test_image_caps_are_configurable_and_checked(tmp_path):
    small = tmp_path / "small.png"
    _png(small, 64, 64, color_type=2)
    ok = CodeTool().execute(CROP, [Image.new("RGB", (8, 8))], "s", _Produces(small))
    assert ok.ok and ok.image.size == (64, 64)
    _png(small, 64, 64, color_type=2)
    r = CodeTool(max_image_pixels=1000).execute(CROP, [Image.new("RGB", (8, 8))], "s", _Produces(small))
    assert r.error == "unreadable image" and "64x64" in r.text
    _png(small, 64, 64, color_type=2)
    r = CodeTool(max_image_bytes=10).execute(CROP, [Image.new("RGB", (8, 8))], "s", _Produces(small))
    assert r.error == "unreadable image" and "byte limit" in r.text
    with pytest.raises(ConfigError, match="tool.tool.max_image_pixels=0"):
        CodeTool(max_image_pixels=0)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a" + b"\xff" * 20, b"not an image at all"],
    ids=["empty", "bad-png", "bad-gif", "text"],
)
def test_any_decode_failure_is_a_tool_error(tmp_path, data):
    bad = tmp_path / "bad.png"
    bad.write_bytes(data)
    result = CodeTool().execute(CROP, [Image.new("RGB", (8, 8))], "s", _Produces(bad))
    assert result.error == "unreadable image" and result.image is None


def test_a_truncated_png_is_a_tool_error(tmp_path):
    cut = tmp_path / "cut.png"
    _png(cut, 300, 300, color_type=2)
    cut.write_bytes(cut.read_bytes()[:-40])  # IDAT cut short: fails while decoding, not opening
    result = CodeTool().execute(CROP, [Image.new("RGB", (8, 8))], "s", _Produces(cut))
    assert result.error == "unreadable image" and result.image is None


def test_clamp_box_is_thymes():
    from vrl.tool import clamp_box

    assert clamp_box((10, 10, 20, 20), 200, 100) == [10, 10, 74, 74]  # grown to 64 px per side
    assert clamp_box((150, -5, 260, 40), 200, 100) == [136, 0, 200, 64]  # clipped, then grown inwards
    assert clamp_box((120, 80, 20, 10), 200, 100) == [20, 10, 120, 80]  # corners reordered
    assert clamp_box((5, 5, 10, 10), 40, 30) == [0, 0, 40, 30]  # smaller than 64: the whole side
    assert clamp_box((0, 0, 100, 90), 200, 100) == [0, 0, 100, 90]  # already fine


def test_rewrite_code_image_path_and_crop_boxes():
    from vrl.tool import rewrite_code

    size = (200, 100)
    code = "image_path = '/mnt/data/input.png'\nx = 1"
    assert rewrite_code(code, size) == "image_path = image_paths[0]\nx = 1"
    assert rewrite_code(code, size, image_path=False) == code
    assert rewrite_code("crop_box = (10, 10, 20, 20)", size) == "crop_box = (10, 10, 74, 74)"
    assert rewrite_code("bbox = [150, -5, 260, 40]", size) == "bbox = [136, 0, 200, 64]"
    assert (
        rewrite_code("left, top, right, bottom = (0, 0, 10, 10)", size)
        == "left, top, right, bottom = (0, 0, 64, 64)"
    )
    assert rewrite_code("crop = image[10:20, 5:300]", size) == "crop = image[10:74, 5:200]"
    assert (
        rewrite_code("crop_box = (10, 10, 20, 20)", size, min_crop_side=None) == "crop_box = (10, 10, 20, 20)"
    )
    # Left alone: computed boxes, other names, call literals (as Thyme), and code that does not parse.
    for untouched in (
        "box = (0, 0, w // 2, h // 2)",
        "size = (1, 2, 3, 4)",
        "im.crop((0, 0, 20, 10))",
        "x = (1,",
    ):
        assert rewrite_code(untouched, size) == untouched


def test_rewrites_run_in_the_sandbox(sandbox):
    tool = CodeTool()
    image = Image.new("RGB", (200, 100), (0, 0, 255))
    call = (
        "<code>\n```python\nfrom PIL import Image\nimage_path = '/mnt/data/does_not_exist.png'\n"
        "crop_box = (10, 10, 20, 20)\nout = Image.open(image_path).crop(crop_box)\n"
        "out.save('c.png')\nprocessed_path = 'c.png'\n```\n</code>"
    )
    result = tool.execute(call, [image], "rewrite", sandbox)
    assert result.ok, result.text
    assert result.image.size == (64, 64) and result.image.getpixel((1, 1)) == (0, 0, 255)
    plain = CodeTool(rewrite_image_path=False, min_crop_side=None).execute(call, [image], "plain", sandbox)
    assert not plain.ok and "does_not_exist" in plain.text
    with pytest.raises(ConfigError, match="min_crop_side"):
        CodeTool(min_crop_side=0)
