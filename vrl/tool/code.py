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

Before the program runs, it is rewritten as V-Thinker's and Thyme's sandboxes rewrite it
(`rewrite_code`, on its AST; left as it is when it does not parse, so the sandbox reports the
syntax error):
- `image_path = "<any string>"` becomes `image_path = image_paths[0]`: the model was told a
  path in its prompt, the file it means is the input image (V-Thinker's training sandbox,
  swift/trainers/sandbox.py `ImagePathTransformer`, replaces every such literal).
- crop boxes written as literals are clamped to the input image, each side at least 64 px (or
  the whole side when the image is smaller): `x1, y1, x2, y2 = (...)` with coordinate-like names,
  `crop_box`/`bbox`/`box`/`coordinates`/... `= (...)`, and `crop = image[y1:y2, x1:x2]`
  (Thyme/V-Thinker `CropCoordinateTransformer`, `MIN_CROP_DIMENSION = 64`; their slice case tests
  for `ast.Index`, which Python >= 3.9 no longer produces, so it never fires there; here it does).

The produced image is untrusted too: it is decoded here, in the trainer. Its file size and the
dimensions in its header are checked before any pixel is decoded (a 48 kB PNG can declare
400 M pixels), and any failure to decode it is a tool error, never an exception.
"""

from __future__ import annotations

import ast
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


# Names V-Thinker/Thyme treat as a crop box when a 4-tuple literal is assigned to them.
BOX_NAMES = (
    "crop_box",
    "bbox",
    "box",
    "coordinates",
    "coords",
    "crop_coords",
    "left_crop_coords",
    "right_crop_coords",
    "top_crop_coords",
    "bottom_crop_coords",
)
COORD_NAMES = ("x1", "y1", "x2", "y2", "left", "top", "right", "bottom")


def clamp_box(box: Sequence[float], width: int, height: int, min_side: int = 64) -> list[int]:
    """(x1, y1, x2, y2) ordered, clamped to the image and grown to `min_side` per axis (the whole
    axis when the image is smaller), as Thyme's `_clamp_coordinates`; rounded to ints.

    E.g. on 200x100, min 64: (10, 10, 20, 20) -> [10, 10, 74, 74]; (150, -5, 260, 40) -> [136, 0, 200, 64].
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    xs = _clamp_axis(min(x1, x2), max(x1, x2), float(width), min_side)
    ys = _clamp_axis(min(y1, y2), max(y1, y2), float(height), min_side)
    return [int(round(v)) for v in (xs[0], ys[0], xs[1], ys[1])]


def _clamp_axis(lo: float, hi: float, size: float, min_side: int) -> tuple[float, float]:
    lo = min(max(0.0, lo), size - 1.0 if size > 0 else 0.0)
    hi = min(max(0.0, hi), size)
    if lo >= hi and size > 0:
        lo = max(0.0, hi - 1.0)
        if hi <= lo:
            hi = min(size, lo + 1.0)
    if size > 0 and hi - lo < min_side:
        if size < min_side:
            lo, hi = 0.0, size
        else:
            hi = lo + min_side
            if hi > size:
                hi = size
                lo = max(0.0, hi - min_side)
    if size > 0 and lo >= hi:
        hi = min(size, lo + 1.0)
    return lo, hi


def _number(node: ast.AST | None) -> float | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return None


class _Rewriter(ast.NodeTransformer):
    """The image_path and crop-box rewrites of `rewrite_code`."""

    def __init__(self, size: tuple[int, int] | None, min_side: int | None, image_path: bool, image_var: str):
        self.size, self.min_side, self.image_path, self.image_var = size, min_side, image_path, image_var
        self.changed = False

    def _clamped(self, values: list[float]) -> list[int] | None:
        if self.size is None or self.min_side is None:
            return None
        new = clamp_box(values, *self.size, self.min_side)
        return None if new == [int(round(v)) for v in values] else new

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        target = node.targets[0] if len(node.targets) == 1 else None
        value = node.value
        if (
            self.image_path
            and isinstance(target, ast.Name)
            and target.id == "image_path"
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            node.value = ast.parse("image_paths[0]", mode="eval").body
            self.changed = True
            return node
        literal = isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == 4
        numbers = [_number(v) for v in value.elts] if literal else []
        coords = (
            isinstance(target, ast.Tuple)
            and len(target.elts) == 4
            and all(isinstance(t, ast.Name) for t in target.elts)
            and any(t.id.lower() in COORD_NAMES for t in target.elts)
        )
        named_box = isinstance(target, ast.Name) and target.id in BOX_NAMES
        if literal and (coords or named_box) and all(n is not None for n in numbers):
            new = self._clamped(numbers)
            if new is not None:
                value.elts = [ast.Constant(v) for v in new]
                self.changed = True
        elif isinstance(target, ast.Name) and isinstance(value, ast.Subscript):
            self._clamp_slice(value)
        return self.generic_visit(node)

    def _clamp_slice(self, node: ast.Subscript) -> None:
        """`image[y1:y2, x1:x2]` with number (or omitted) bounds, on the main image variable."""
        index = node.slice
        if not (
            isinstance(node.value, ast.Name)
            and node.value.id == self.image_var
            and isinstance(index, ast.Tuple)
            and len(index.elts) == 2
            and all(isinstance(s, ast.Slice) and s.step is None for s in index.elts)
            and self.size is not None
        ):
            return
        ys, xs = index.elts
        width, height = self.size
        bounds = [
            _number(xs.lower) if xs.lower is not None else 0.0,
            _number(ys.lower) if ys.lower is not None else 0.0,
            _number(xs.upper) if xs.upper is not None else float(width),
            _number(ys.upper) if ys.upper is not None else float(height),
        ]
        if any(b is None for b in bounds):
            return
        new = self._clamped(bounds)
        if new is not None:
            xs.lower, ys.lower, xs.upper, ys.upper = (ast.Constant(v) for v in new)
            self.changed = True


def rewrite_code(
    code: str,
    image_size: tuple[int, int] | None,
    *,
    image_path: bool = True,
    min_crop_side: int | None = 64,
    image_var: str = "image",
) -> str:
    """`code` with V-Thinker's rewrites (module docstring): string `image_path` assignments point at
    the input image, literal crop boxes are clamped to `image_size` with `min_crop_side`. Returns
    `code` unchanged when nothing applies or it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    rewriter = _Rewriter(image_size, min_crop_side, image_path, image_var)
    tree = rewriter.visit(tree)
    if not rewriter.changed:
        return code
    return ast.unparse(ast.fix_missing_locations(tree))


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
        rewrite_image_path: a string assigned to `image_path` becomes the input image
            (`rewrite_code`; V-Thinker's sandbox).
        min_crop_side: literal crop boxes are clamped to the input image with each side at least
            this many pixels (V-Thinker/Thyme: 64); None = no clamping.
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
        rewrite_image_path: bool = True,
        min_crop_side: int | None = 64,
    ) -> None:
        try:
            compiled = re.compile(fence_pattern, re.DOTALL)
        except re.error as error:
            raise ConfigError(f"tool.tool.fence_pattern={fence_pattern!r} is not a regex: {error}") from None
        if compiled.groups < 1:
            raise ConfigError(f"tool.tool.fence_pattern={fence_pattern!r} needs a group (the code)")
        if input_image not in ("current", "original"):
            raise ConfigError(f"tool.tool.input_image={input_image!r}: use 'current' or 'original'")
        if min_crop_side is not None and int(min_crop_side) < 1:
            raise ConfigError(f"tool.tool.min_crop_side={min_crop_side} must be >= 1 or null (no clamping)")
        self.rewrite_image_path = bool(rewrite_image_path)
        self.min_crop_side = None if min_crop_side is None else int(min_crop_side)
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
        code = rewrite_code(
            code,
            ordered[0].size if ordered else None,
            image_path=self.rewrite_image_path,
            min_crop_side=self.min_crop_side,
        )
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
