"""What a warm worker imports and runs once before it forks any child.

A child pays several times more for code its worker never ran (lazy imports, first-use caches,
copy-on-write page faults), so the worker imports PIL/numpy/math (cv2 when installed) and runs
their common paths single-threaded. It also sets PIL's default PNG compression (see
`png_default`): encoding the produced image is the largest cost of a typical crop-and-save call.
"""

from __future__ import annotations

import json
import random


def preload(png_compress_level: int | None = None) -> None:
    """Import and warm the imaging stack; `png_compress_level` (0-9, None = zlib's 6) becomes the
    level PIL writes PNGs at unless the program passes its own."""
    import io
    import math  # noqa: F401

    json.dumps({"text": "", "error": "warm-up", "violation": None, "images": []})
    compile("x = 1", "<code>", "exec")
    random.seed(0)
    try:
        import numpy
        from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps  # noqa: F401

        Image.init()  # register every image plugin now, not in the confined child
        if png_compress_level is not None:
            png_default(Image, png_compress_level)
        numpy.random.seed(0)
        img = Image.new("RGB", (64, 48), "white")
        ImageDraw.Draw(img).line((0, 0, 63, 47), fill=(255, 0, 0), width=2)
        ImageDraw.Draw(img).text((2, 2), "A", fill=(0, 0, 0))
        for fmt in ("PNG", "JPEG"):
            buf = io.BytesIO()
            img.save(buf, fmt)
            buf.seek(0)
            with Image.open(buf) as im:
                im.crop((8, 8, 40, 40)).resize((64, 64), Image.BICUBIC).convert("L")
        numpy.asarray(img).mean()
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(0)
    except ImportError:
        pass


def png_default(image_module, level: int) -> None:
    """Make PIL's PNG writer use zlib `level` when the program does not pass `compress_level`.

    Lossless either way (the pixels read back identical). On a 448x448 diagram, level 1 encodes
    ~1.7x faster than zlib's default 6 for ~15% more bytes; on a noisy photo ~3x faster. The
    produced file lives for milliseconds (the trainer decodes it at once), so speed wins.
    """
    for registry in (image_module.SAVE, image_module.SAVE_ALL):
        handler = registry.get("PNG")
        if handler is None:
            continue

        def save(im, fp, filename, _handler=handler):
            im.encoderinfo.setdefault("compress_level", level)
            return _handler(im, fp, filename)

        registry["PNG"] = save
