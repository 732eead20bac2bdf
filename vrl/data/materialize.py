"""Write samples to a `datasets.Dataset` on disk, atomically, and report what was skipped.

The dataset is built in a hidden temporary directory beside `out_dir` and renamed into place
only when complete, so an interrupted run leaves either the previous dataset or nothing.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, JpegImagePlugin

from vrl.errors import MissingFileError, VrlError

from .records import (
    SKIP_ASPECT_RATIO,
    SKIP_BAD_ANSWER_TYPE,
    SKIP_BAD_FIELD_TYPE,
    SKIP_IMAGE_TOO_LARGE,
    SKIP_MISSING_ANSWER,
    SKIP_UNREADABLE_IMAGE,
    to_rgb,
)
from .schema import ANSWER_TYPES, Sample, Skipped, hf_features

EXAMPLES_PER_REASON = 5
WRITER_BATCH = 256


@dataclass(frozen=True)
class ImageLimits:
    """Images a vision-language model can take; a record with any other image is skipped.

    Attributes:
        max_aspect_ratio: longest side / shortest side at most this. Qwen2/2.5-VL's image
            processor raises above 200 (a 10000x10 strip would crash SFT's collate or a rollout).
        max_pixels: width * height at most this (the processor downsizes every image to its
            pixel budget, but a 100-megapixel image costs seconds and gigabytes per decode).
    """

    max_aspect_ratio: float = 200.0
    max_pixels: int = 64_000_000

    def violation(self, image: Image.Image) -> tuple[str, str] | None:
        """(skip reason, detail) if `image` breaks a limit, else None."""
        width, height = image.size
        if width < 1 or height < 1:
            return SKIP_UNREADABLE_IMAGE, f"{width}x{height} image"
        if max(width, height) / min(width, height) > self.max_aspect_ratio:
            return SKIP_ASPECT_RATIO, f"{width}x{height} (aspect ratio > {self.max_aspect_ratio:g})"
        if width * height > self.max_pixels:
            return SKIP_IMAGE_TOO_LARGE, f"{width}x{height} (> {self.max_pixels} pixels)"
        return None


@dataclass
class MaterializeReport:
    """What `materialize` wrote and skipped."""

    written: int
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> first few record ids
    seconds: float = 0.0

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_markdown(self) -> str:
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"**{self.written}** samples written, **{self.total_skipped}** skipped, "
            f"in {self.seconds:.1f} s ({rate:.0f} samples/s).",
        ]
        if self.skipped:
            lines += ["", "| reason | count | examples |", "|---|---:|---|"]
            for reason, count in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
                examples = ", ".join(f"`{e}`" for e in self.examples.get(reason, []))
                lines.append(f"| {reason} | {count} | {examples} |")
        return "\n".join(lines)


def materialize(
    items: Iterable[Sample | Skipped],
    out_dir: str | Path,
    limit: int | None = None,
    description: str = "materialize",
    images: ImageLimits | None = None,
) -> MaterializeReport:
    """Validate and write up to `limit` samples (None = all) to `out_dir` with `save_to_disk`.

    Each sample's images are checked against `images` (default `ImageLimits()`) and converted
    to RGB, and its answer and answer_type checked; a failure becomes a `Skipped` and is counted
    like those coming from the sources. An existing dataset at `out_dir` is replaced; any other
    existing, non-empty directory is refused.
    """
    import datasets
    import pyarrow as pa
    from tqdm.auto import tqdm

    start = time.perf_counter()
    images = images or ImageLimits()
    if limit is not None and limit < 0:
        raise VrlError(f"limit: {limit} is negative; use a count >= 0 or null for all")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "state.json").is_file():
        raise VrlError(
            f"out_dir: {out_dir} exists and is not a saved dataset; remove it or pick another path"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    features = hf_features()
    skipped: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    written = 0
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        arrow_path = tmp / "build.arrow"
        with (
            pa.OSFile(str(arrow_path), "wb") as sink,
            pa.ipc.new_stream(sink, features.arrow_schema) as writer,
        ):
            batch: list[dict[str, Any]] = []
            with tqdm(total=limit, desc=description, unit="sample", disable=None) as progress:
                for item in items if limit != 0 else ():
                    record = _validate(item, images)
                    if isinstance(record, Skipped):
                        skipped[record.reason] += 1
                        seen = examples.setdefault(record.reason, [])
                        if len(seen) < EXAMPLES_PER_REASON:
                            seen.append(record.record_id)
                        progress.set_postfix(skipped=sum(skipped.values()), refresh=False)
                        continue
                    batch.append(features.encode_example(record))
                    written += 1
                    progress.update()
                    if len(batch) >= WRITER_BATCH:
                        writer.write_table(pa.Table.from_pylist(batch, schema=features.arrow_schema))
                        batch = []
                    if limit is not None and written >= limit:
                        break  # before pulling another item: an endless source is fine
            if batch:
                writer.write_table(pa.Table.from_pylist(batch, schema=features.arrow_schema))
        built = datasets.Dataset.from_file(str(arrow_path), in_memory=False)
        # num_shards=1 when empty: zero shards would not load back.
        built.save_to_disk(str(tmp / "dataset"), num_shards=None if written else 1)
        del built
        _swap_into_place(tmp / "dataset", out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return MaterializeReport(
        written=written, skipped=dict(skipped), examples=examples, seconds=time.perf_counter() - start
    )


def load_samples(path: str | Path):
    """The `datasets.Dataset` that `materialize` wrote (rows -> `Sample.from_record`)."""
    import datasets

    path = Path(path)
    if not (path / "state.json").is_file():
        raise MissingFileError(
            f"path: no materialised dataset at {path.resolve()} (run the data stage first)"
        )
    return datasets.load_from_disk(str(path))


def _validate(item: Any, limits: ImageLimits) -> dict[str, Any] | Skipped:
    """A record ready for `hf_features().encode_example`, or why the item cannot be one."""
    if isinstance(item, Skipped):
        return item
    if not isinstance(item, Sample):
        return Skipped(SKIP_BAD_FIELD_TYPE, "?", f"not a Sample: {type(item).__name__}")
    if not isinstance(item.answer, str) or not item.answer.strip():
        return Skipped(SKIP_MISSING_ANSWER, item.id)
    if item.answer_type not in ANSWER_TYPES:
        return Skipped(SKIP_BAD_ANSWER_TYPE, item.id, str(item.answer_type))
    images = []
    for image in [*item.images, *item.response_images]:
        broken = limits.violation(image) if isinstance(image, Image.Image) else None
        if broken is not None:
            return Skipped(broken[0], item.id, broken[1])
    for image in item.images:
        try:
            images.append({"bytes": _encode(image), "path": None})
        except Exception as error:  # any decode/convert failure of any PIL plugin
            return Skipped(SKIP_UNREADABLE_IMAGE, item.id, type(error).__name__)
    try:
        record = item.to_record()
    except (TypeError, ValueError, KeyError) as error:
        return Skipped(SKIP_BAD_FIELD_TYPE, item.id, f"{type(error).__name__}: {error}"[:120])
    record["images"] = images
    return record


def _encode(image: Image.Image) -> bytes:
    """RGB image bytes: a JPEG that is already RGB keeps its quantisation tables, everything else is PNG."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"image is a {type(image).__name__}")
    buffer = io.BytesIO()
    if isinstance(image, JpegImagePlugin.JpegImageFile) and image.mode == "RGB":
        image.save(buffer, format="JPEG", quality="keep")
    else:
        to_rgb(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _swap_into_place(built: Path, out_dir: Path) -> None:
    """Rename `built` to `out_dir`; an existing dataset there is moved aside first, then deleted."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out_dir, old)
    os.replace(built, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
