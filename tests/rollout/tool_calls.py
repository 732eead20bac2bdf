"""The tool trajectories the `tool_policy` fixture teaches (exact V-Thinker / DeepEyes formats)."""

ZOOM_CALL = '<tool_call>{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [0, 0, 40, 40]}}</tool_call>'
CODE_CALL = (
    "<code>\n```python\nfrom PIL import Image\nim = Image.open(image_path)\n"
    "im.crop((0, 0, 32, 32)).save('crop.png')\nprocessed_path = 'crop.png'\n```\n</code>"
)
ANSWER = "<answer>{answer}</answer>"
