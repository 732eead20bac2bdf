"""Tools a VLM calls inside a response (`tool` config group), run by the multi-turn rollout.

`CodeTool` (V-Thinker / Thyme: `<code>` + fenced Python in the `vrl.sandbox`), `ZoomTool`
(DeepEyes: `image_zoom_in_tool` crops). The loop itself is `vrl.rollout.MultiTurnRollout`.
"""

from vrl.tool.base import Tool, ToolResult
from vrl.tool.code import DEFAULT_FENCE, CodeTool, clamp_box, extract_code, rewrite_code
from vrl.tool.zoom import TOOL_NAME, ZoomTool, parse_zoom_call, zoom_box

__all__ = [
    "DEFAULT_FENCE",
    "TOOL_NAME",
    "CodeTool",
    "Tool",
    "ToolResult",
    "ZoomTool",
    "clamp_box",
    "extract_code",
    "parse_zoom_call",
    "rewrite_code",
    "zoom_box",
]
