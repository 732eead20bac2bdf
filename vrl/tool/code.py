"""`CodeTool`: V-Thinker / Thyme code calls run in the `vrl.sandbox`.

Call format (kept exactly; the SFT data uses it too):

    <code>
    ```python
    ...
    ```
    </code>

The program sees `image_path` (the trajectory's current image: the latest tool image, else the
prompt's; or the original with `input_image: original`), `image_paths` (all of them, that one
first) and `output_dir`; it produces an image as in Thyme (`processed_path`, a printed path, or
a file written to `output_dir`). The result comes back as `<sandbox_output>` + that image (or
the printed text, errors included) + `</sandbox_output>`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vrl.errors import ConfigError
from vrl.tool.base import ToolResult

# The body of the first ```python fence (the language tag optional).
DEFAULT_FENCE = r"```(?:python|py)?[ \t]*\n(.*?)```"


def extract_code(call: str, fence_pattern: str = DEFAULT_FENCE) -> str | None:
    """The program inside a call: group 1 of `fence_pattern` (DOTALL), stripped; None if the
    call has no fence or an empty one."""
    match = re.search(fence_pattern, call, re.DOTALL)
    if match is None:
        return None
    code = match.group(1).strip("\n")
    return code if code.strip() else None


class CodeTool:
    """Python in the sandbox, V-Thinker / Thyme format (see the module docstring).

    Args:
        fence_pattern: regex whose group 1 is the program (matched DOTALL inside the call).
        call_open, stop: the tags around a call.
        result_open, result_close: the tags around its result.
        input_image: "current" (latest image of the trajectory) or "original" (the prompt's
            first) as `image_path`.
        max_output_chars: printed text kept in a text result (the sandbox caps it too).
    """

    name = "code"
    needs_sandbox = True

    def __init__(
        self,
        fence_pattern: str = DEFAULT_FENCE,
        call_open: str = "<code>",
        stop: str = "</code>",
        result_open: str = "<sandbox_output>",
        result_close: str = "</sandbox_output>",
        input_image: str = "current",
        max_output_chars: int = 2000,
    ) -> None:
        try:
            compiled = re.compile(fence_pattern, re.DOTALL)
        except re.error as error:
            raise ConfigError(f"tool.tool.fence_pattern={fence_pattern!r} is not a regex: {error}") from None
        if compiled.groups < 1:
            raise ConfigError(f"tool.tool.fence_pattern={fence_pattern!r} needs a group (the code)")
        if input_image not in ("current", "original"):
            raise ConfigError(f"tool.tool.input_image={input_image!r}: use 'current' or 'original'")
        self.fence_pattern = fence_pattern
        self.call_open, self.stop = call_open, stop
        self.result_open, self.result_close = result_open, result_close
        self.input_image = input_image
        self.max_output_chars = max_output_chars

    def execute(
        self, call: str, images: Sequence[Image.Image], session_id: str, sandbox: Any = None
    ) -> ToolResult:
        if sandbox is None:
            raise ConfigError("tool=code needs a sandbox: add sandbox=auto (or bwrap / process)")
        code = extract_code(call, self.fence_pattern)
        if code is None:
            return ToolResult(text="Error: no ```python code block in the call", error="no code block")
        ordered = list(images) if self.input_image == "original" else list(reversed(images))
        with tempfile.TemporaryDirectory(prefix="vrl-tool-") as scratch:
            paths = []
            for i, image in enumerate(ordered):
                path = Path(scratch) / f"image_{i}.png"
                # lossless either way; zlib level 1 encodes ~1.7x faster than PIL's default 6
                image.convert("RGB").save(path, compress_level=1)
                paths.append(path)
            result = sandbox.execute(code, paths, session_id)
        if result.error is not None:
            return ToolResult(text=result.text[-self.max_output_chars :], error=result.error)
        text = result.text[: self.max_output_chars]
        if not result.images:
            return ToolResult(text=text)
        try:  # the last image the program produced is the new view (Thyme keeps one per call)
            with Image.open(result.images[-1]) as produced:
                image = produced.convert("RGB")
        except OSError as error:
            return ToolResult(text=f"Error: unreadable output image ({error})", error="unreadable image")
        finally:
            for path in result.images:  # copied out for us; the PIL copy is all we keep
                Path(path).unlink(missing_ok=True)
        return ToolResult(text=text, image=image)

    def close_session(self, session_id: str, sandbox: Any = None) -> None:
        if sandbox is not None:
            sandbox.close_session(session_id)
