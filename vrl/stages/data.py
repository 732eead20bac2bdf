"""The `data` stage: mix the configured sources by weight and materialise train/val datasets."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from vrl.errors import ConfigError
from vrl.settings import finite, require
from vrl.stages.base import StageContext, StageResult

log = logging.getLogger("vrl")


@dataclass(frozen=True)
class DataSettings:
    """One data stage.

    Attributes:
        train_size: samples to draw for training (None = every sample of finite sources).
        val_size: samples held back from the same mixture for validation loss.
        sources: names of the `data` sources to mix (None = all); several data stages, each
            with its own sources and product names, feed several SFT stages (V-Thinker).
        train_product, val_product: the product keys this stage writes.
        max_aspect_ratio: records with an image longer than this times its width (or wider
            than this times its height) are skipped and counted (`image_aspect_ratio`);
            Qwen2/2.5-VL's processor refuses more than 200.
        max_image_pixels: records with an image of more pixels are skipped and counted
            (`image_too_large`).
    """

    train_size: int | None = None
    val_size: int = 256
    sources: tuple[str, ...] | None = None
    train_product: str = "train_data"
    val_product: str = "val_data"
    max_aspect_ratio: float = 200.0
    max_image_pixels: int = 64_000_000

    def __post_init__(self) -> None:
        if self.sources is not None:
            object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        require(
            self.train_size is None or self.train_size >= 1,
            "train_size",
            self.train_size,
            ">= 1 or null (all)",
        )
        require(self.val_size >= 1, "val_size", self.val_size, ">= 1")
        require(
            self.train_product != self.val_product, "val_product", self.val_product, "unlike train_product"
        )
        require(
            finite(self.max_aspect_ratio) and self.max_aspect_ratio >= 1,
            "max_aspect_ratio",
            self.max_aspect_ratio,
            ">= 1 (longest side / shortest side)",
        )
        require(self.max_image_pixels >= 1, "max_image_pixels", self.max_image_pixels, ">= 1")


class DataStage:
    """Writes `<run>/<stage>/train` and `<run>/<stage>/val` (HF datasets with `Image` features).

    Args:
        settings: `DataSettings`.
    Products: train_data, val_data (or the keys given). Bad records are skipped and counted by reason.
    """

    requires: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()

    all_ranks = False  # rank 0 makes the data; the other ranks wait for it (vrl.run)

    def __init__(self, settings: DataSettings) -> None:
        self.settings = settings
        self.writes = (settings.train_product, settings.val_product)

    def check(self, context: StageContext) -> None:
        available = context.components.data
        unknown = [s for s in self.settings.sources or () if s not in available]
        if unknown:
            raise ConfigError(
                f"stage.{context.name}.sources: {unknown} not in data (configured: {sorted(available)}); "
                "add them to data=[...] or fix the names"
            )
        if not available:
            raise ConfigError("the data stage needs at least one source: e.g. data=[procedural]")

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from datasets import load_from_disk

        from vrl.data.materialize import ImageLimits, materialize
        from vrl.data.mixture import mix

        s = self.settings
        available = context.components.data
        sources = (
            [available[name] for name in s.sources] if s.sources is not None else list(available.values())
        )
        total = None if s.train_size is None else s.train_size + s.val_size
        work = context.stage_dir
        report = materialize(
            mix(sources, total=total, seed=context.seed),
            work / "all",
            limit=total,
            description="materialise data",
            images=ImageLimits(s.max_aspect_ratio, s.max_image_pixels),
        )
        if report.written <= s.val_size:
            shutil.rmtree(work / "all", ignore_errors=True)  # no half-made product is left behind
            skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(report.skipped.items()))
            raise ConfigError(
                f"data: only {report.written} valid samples for val_size={s.val_size}"
                + (f" ({report.total_skipped} records skipped: {skipped})" if report.skipped else "")
                + f"; lower stage.{context.name}.val_size or add data"
            )
        everything = load_from_disk(str(work / "all"))
        split = everything.train_test_split(test_size=s.val_size, seed=context.seed, shuffle=True)
        for name, part in (("train", split["train"]), ("val", split["test"])):
            shutil.rmtree(work / name, ignore_errors=True)
            part.save_to_disk(str(work / name))
        del everything, split
        shutil.rmtree(work / "all", ignore_errors=True)
        (work / "report.md").write_text(report.to_markdown())
        log.info("data: %d samples written, skipped %s", report.written, report.skipped or "none")
        metrics = {"data/written": float(report.written), "data/skipped": float(sum(report.skipped.values()))}
        metrics.update({f"data/skipped/{reason}": float(n) for reason, n in report.skipped.items()})
        return StageResult(
            products={s.train_product: str(work / "train"), s.val_product: str(work / "val")},
            metrics=metrics,
            tables={"Data": report.to_markdown()},
        )
