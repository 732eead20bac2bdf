"""The `data` stage: mix the configured sources by weight and materialise train/val datasets."""

from __future__ import annotations

import logging
import shutil

from vrl.errors import ConfigError
from vrl.stages.base import StageContext, StageResult

log = logging.getLogger("vrl")


class DataStage:
    """Writes `<run>/data/train` and `<run>/data/val` (HF datasets with `Image` features).

    Args:
        train_size: samples to draw for training (None = every sample of finite sources).
        val_size: samples held back from the same mixture for validation loss.
        sources: names of the `data` sources to mix (None = all); several data stages, each
            with its own sources and product names, feed several SFT stages (V-Thinker).
        train_product, val_product: the product keys this stage writes.
    Products: train_data, val_data (or the keys given). Bad records are skipped and counted by reason.
    """

    def __init__(
        self,
        train_size: int | None = 2000,
        val_size: int = 64,
        sources: list[str] | None = None,
        train_product: str = "train_data",
        val_product: str = "val_data",
    ) -> None:
        self.train_size = train_size
        self.val_size = val_size
        self.sources = None if sources is None else [str(s) for s in sources]
        self.train_product, self.val_product = train_product, val_product

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from datasets import load_from_disk

        from vrl.data.materialize import materialize
        from vrl.data.mixture import mix

        available = context.components.data
        unknown = [s for s in self.sources or [] if s not in available]
        if unknown:
            raise ConfigError(
                f"stage.{context.name}.sources: {unknown} not in data (configured: {sorted(available)}); "
                "add them to data=[...] or fix the names"
            )
        sources = (
            [available[s] for s in self.sources] if self.sources is not None else list(available.values())
        )
        if not sources:
            raise ConfigError("the data stage needs at least one source: e.g. data=[procedural]")
        total = None if self.train_size is None else self.train_size + self.val_size
        work = context.stage_dir
        report = materialize(
            mix(sources, total=total, seed=context.seed),
            work / "all",
            limit=total,
            description="materialise data",
        )
        if report.written <= self.val_size:
            raise ConfigError(
                f"data: only {report.written} valid samples for val_size={self.val_size}; "
                "lower stage.data.val_size or add data"
            )
        everything = load_from_disk(str(work / "all"))
        split = everything.train_test_split(test_size=self.val_size, seed=context.seed, shuffle=True)
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
            products={self.train_product: str(work / "train"), self.val_product: str(work / "val")},
            metrics=metrics,
            tables={"Data": report.to_markdown()},
        )
