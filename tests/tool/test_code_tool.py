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
