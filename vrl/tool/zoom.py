"""`ZoomTool`: DeepEyes' `image_zoom_in_tool` (arXiv 2505.14362), a crop of the original image.

Call format (kept exactly):

    <tool_call>{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [x1, y1, x2, y2], "label": "..."}}</tool_call>

Box rules, as DeepEyes' tool (`maybe_resize_bbox` / `validate_bbox`): clip to the image; invalid
unless x1 < x2 and y1 < y2, the aspect ratio is at most 100 and the short side exceeds 30 px;
a side under 28 px is grown about the centre to 28 (then re-validated). Coordinates are pixels
of the original (prompt) image. The crop comes back as `<tool_response>` + image +
`</tool_response>`; a bad call comes back as its error text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

from vrl.tool.base import ToolResult

TOOL_NAME = "image_zoom_in_tool"


def parse_zoom_call(call: str, call_open: str = "<tool_call>", stop: str = "</tool_call>") -> list[float]:
    """`bbox_2d` of a call as 4 floats; ValueError (with the reason) for anything else."""
    match = re.search(re.escape(call_open) + r"(.*?)" + re.escape(stop), call, re.DOTALL)
    if match is None:
        raise ValueError(f"no {call_open}...{stop} in the call")
    try:
        payload = json.loads(match.group(1).strip())
    except ValueError:
        raise ValueError("the tool call is not valid JSON") from None
    if not isinstance(payload, dict) or payload.get("name") != TOOL_NAME:
        raise ValueError(f"unknown tool: only {TOOL_NAME} is available")
    box = (
        (payload.get("arguments") or {}).get("bbox_2d")
        if isinstance(payload.get("arguments"), dict)
        else None
    )
    if not isinstance(box, list) or len(box) != 4:
        raise ValueError("arguments.bbox_2d must be a list [x1, y1, x2, y2]")
    try:
        return [float(v) for v in box]
    except (TypeError, ValueError):
        raise ValueError("bbox_2d values must be numbers") from None


def _valid(box: Sequence[float], max_aspect: float, min_side: float) -> bool:
    left, top, right, bottom = box
    if not (left < right and top < bottom):
        return False
    width, height = right - left, bottom - top
    return max(width, height) / min(width, height) <= max_aspect and min(width, height) > min_side


def zoom_box(
    box: Sequence[float],
    width: int,
    height: int,
    *,
    min_side: float = 30,
    grow_to: float = 28,
    max_aspect: float = 100,
) -> tuple[int, int, int, int] | None:
    """The crop box (pixels) for `box` on a `width` x `height` image, or None if invalid.

    DeepEyes' rules: clip; valid iff x1 < x2, y1 < y2, aspect <= `max_aspect` and short side
    > `min_side`; a side < `grow_to` is grown about the centre (ceil/floor), then re-checked.
    E.g. on 100x100: [-5, 10, 50, 60] -> (0, 10, 50, 60); [10, 10, 20, 90] -> None.
    """
    left, top = max(0.0, box[0]), max(0.0, box[1])
    right, bottom = min(float(width), box[2]), min(float(height), box[3])
    if not _valid((left, top, right, bottom), max_aspect, min_side):
        return None
    w, h = right - left, bottom - top
    if w < grow_to or h < grow_to:
        cx, cy = (left + right) / 2, (top + bottom) / 2
        ratio = grow_to / min(w, h)
        half_w, half_h = math.ceil(w * ratio / 2), math.ceil(h * ratio / 2)
        left, right = math.floor(cx - half_w), math.ceil(cx + half_w)
        top, bottom = math.floor(cy - half_h), math.ceil(cy + half_h)
        if not _valid((left, top, right, bottom), max_aspect, min_side):
            return None
    return int(math.floor(left)), int(math.floor(top)), int(math.ceil(right)), int(math.ceil(bottom))


class ZoomTool:
    """DeepEyes' zoom-in tool (see the module docstring).

    Args:
        call_open, stop: the tags around a call.
        result_open, result_close: the tags around the returned crop (DeepEyes wraps them in
            a new user turn; put the chat-template text in these two if you want that).
        min_side: the box's short side must exceed this (px).
        grow_to: sides shorter than this are grown to it (px).
        max_aspect: longest / shortest side at most this.
    """

    name = "zoom"
    needs_sandbox = False

    def __init__(
        self,
        call_open: str = "<tool_call>",
        stop: str = "</tool_call>",
        result_open: str = "<tool_response>",
        result_close: str = "</tool_response>",
        min_side: float = 30,
        grow_to: float = 28,
        max_aspect: float = 100,
    ) -> None:
        self.call_open, self.stop = call_open, stop
        self.result_open, self.result_close = result_open, result_close
        self.min_side, self.grow_to, self.max_aspect = min_side, grow_to, max_aspect

    def execute(
        self, call: str, images: Sequence[Image.Image], session_id: str, sandbox: Any = None
    ) -> ToolResult:
        if not images:
            return ToolResult(text="Error: there is no image to zoom into", error="no image")
        try:
            box = parse_zoom_call(call, self.call_open, self.stop)
        except ValueError as error:
            return ToolResult(text=f"Error: {error}", error=str(error))
        original = images[0]
        crop = zoom_box(
            box,
            *original.size,
            min_side=self.min_side,
            grow_to=self.grow_to,
            max_aspect=self.max_aspect,
        )
        if crop is None:
            reason = f"invalid bbox_2d {box} for a {original.size[0]}x{original.size[1]} image"
            return ToolResult(text=f"Error: {reason}", error=reason)
        return ToolResult(image=original.convert("RGB").crop(crop))

    def close_session(self, session_id: str, sandbox: Any = None) -> None:
        """Stateless: nothing to forget."""
