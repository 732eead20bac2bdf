"""DeepEyes' zoom tool: the call format and the box rules, against hand-worked boxes."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from vrl.tool import TOOL_NAME, ZoomTool, parse_zoom_call, zoom_box


def _call(box, name=TOOL_NAME) -> str:
    return (
        "<tool_call>"
        + json.dumps({"name": name, "arguments": {"bbox_2d": box, "label": "cat"}})
        + "</tool_call>"
    )


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ([10, 20, 60, 90], (10, 20, 60, 90)),  # inside: unchanged
        ([-5, 10, 50, 60], (0, 10, 50, 60)),  # clipped to the image
        ([40, 40, 140, 140], (40, 40, 100, 100)),  # clipped on the far side
        ([50, 50, 10, 90], None),  # x1 > x2
        ([10, 10, 40, 40], None),  # short side 30: must exceed 30
        ([10, 10, 20, 90], None),  # 10 px wide
        ([0, 0, 100, 100.5], (0, 0, 100, 100)),
    ],
)
def test_zoom_box_follows_deepeyes_rules(box, expected):
    assert zoom_box(box, 100, 100) == expected


def test_aspect_ratio_limit_and_growing_small_sides():
    # 40 x 4100 on a tall image: aspect 102.5 > 100 -> invalid; 45 x 4000 (88.9) is fine.
    assert zoom_box([0, 0, 40, 4100], 100, 5000) is None
    assert zoom_box([0, 0, 45, 4000], 100, 5000) == (0, 0, 45, 4000)
    # With a lower validity floor, a 20 x 40 box is grown about its centre to 28 x 56.
    assert zoom_box([40, 40, 60, 80], 200, 200, min_side=10) == (36, 32, 64, 88)


def test_parse_errors_name_the_problem():
    assert parse_zoom_call(_call([1, 2, 3, 4])) == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_zoom_call("<tool_call>{bad</tool_call>")
    with pytest.raises(ValueError, match="unknown tool"):
        parse_zoom_call(_call([1, 2, 3, 4], name="crop"))
    with pytest.raises(ValueError, match="bbox_2d"):
        parse_zoom_call(_call([1, 2, 3]))
    with pytest.raises(ValueError, match="no <tool_call>"):
        parse_zoom_call("just text")


def test_execute_crops_the_original_image_or_reports_the_error():
    image = Image.new("RGB", (100, 80), "white")
    image.paste((255, 0, 0), (10, 10, 60, 60))
    tool = ZoomTool()
    later = Image.new("RGB", (10, 10), "blue")  # a previous crop: zoom always crops the original
    result = tool.execute(_call([10, 10, 60, 60]), [image, later], "s")
    assert result.ok and result.image.size == (50, 50)
    assert result.image.getpixel((25, 25)) == (255, 0, 0)
    bad = tool.execute(_call([10, 10, 20, 20]), [image], "s")
    assert not bad.ok and bad.image is None and "invalid bbox_2d" in bad.text
    assert tool.execute("<tool_call>nope</tool_call>", [image], "s").error is not None
