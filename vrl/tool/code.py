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

The produced image is untrusted too: it is decoded here, in the trainer. Its file size and the
dimensions in its header are checked before any pixel is decoded (a 48 kB PNG can declare
400 M pixels), and any failure to decode it is a tool error, never an exception.
"""

from __future__ import annotations

import os
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
# Formats a produced image may have (what the sandbox returns: png, jpg, bmp, gif, webp, tiff).
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR without decoding anything; None if not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


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
        max_image_pixels: width x height a produced image may declare; larger is a tool error,
            found from the header before decoding (4096 x 4096 = 48 MB as RGB).
        max_image_bytes: file size a produced image may have, in bytes.
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
        max_image_pixels: int = 4096 * 4096,
        max_image_bytes: int = 32 * 2**20,
    ) -> None:
        try:
            compiled = re.compile(fence_pattern, re.DOTALL)
        except re.error as error:
            raise ConfigError(f"tool.tool.fence_pattern={fence_pattern!r} is not a regex: {error}") from None
        if compiled.groups < 1:
            raise ConfigError(f"tool.tool.fence_pattern={fence_pattern!r} needs a group (the code)")
        if input_image not in ("current", "original"):
            raise ConfigError(f"tool.tool.input_image={input_image!r}: use 'current' or 'original'")
        for key, value in (("max_image_pixels", max_image_pixels), ("max_image_bytes", max_image_bytes)):
            if int(value) < 1:
                raise ConfigError(f"tool.tool.{key}={value} must be >= 1")
        self.fence_pattern = fence_pattern
        self.call_open, self.stop = call_open, stop
        self.result_open, self.result_close = result_open, result_close
        self.input_image = input_image
        self.max_output_chars = max_output_chars
        self.max_image_pixels, self.max_image_bytes = int(max_image_pixels), int(max_image_bytes)

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
            image, problem = self._decode(Path(result.images[-1]))
        finally:
            for path in result.images:  # copied out for us; the PIL copy is all we keep
                Path(path).unlink(missing_ok=True)
        if image is None:
            return ToolResult(text=f"Error: {problem}", error="unreadable image")
        return ToolResult(text=text, image=image)

    def _decode(self, path: Path) -> tuple[Image.Image | None, str]:
        """(the image as RGB, "") or (None, why not): sizes checked before any pixel is decoded."""
        try:
            size = os.stat(path).st_size
            if size > self.max_image_bytes:
                return None, f"output image of {size} bytes is over the {self.max_image_bytes}-byte limit"
            # PNG (what programs save) by its IHDR, before PIL sees it; other formats by PIL's lazy
            # open, which reads the header only (and raises on a bomb's size itself).
            dims = png_size(path)
            if dims is None:
                with Image.open(path, formats=IMAGE_FORMATS) as produced:
                    dims = produced.size
            if dims[0] * dims[1] > self.max_image_pixels:
                return None, (
                    f"output image of {dims[0]}x{dims[1]} pixels is over the {self.max_image_pixels}-pixel limit"
                )
            with Image.open(path, formats=IMAGE_FORMATS) as produced:
                if produced.size != dims:  # not the file whose header we read
                    return None, "output image changed while it was read"
                return produced.convert("RGB"), ""
        except Exception as error:  # noqa: BLE001 - hostile files raise anything (bombs, bad zlib, ...)
            return None, f"unreadable output image ({type(error).__name__}: {error})"[:300]

    def close_session(self, session_id: str, sandbox: Any = None) -> None:
        if sandbox is not None:
            sandbox.close_session(session_id)
