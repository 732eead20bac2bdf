"""The `flywheel` stage: run the configured data-evolution strategy, then write its dataset and report."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vrl.errors import ConfigError
from vrl.settings import require
from vrl.stages.base import StageContext, StageResult, need

log = logging.getLogger("vrl")


@dataclass(frozen=True)
class FlywheelSettings:
    """One flywheel stage.

    Attributes:
        rounds: flywheel rounds to run in total (finished ones are kept on resume).
        val_size: accepted items held back for validation loss.
        max_items: cap on the training set (None = every accepted item).
        train_product, val_product: the product keys this stage writes (as the data stage's).
    """

    rounds: int = 5
    val_size: int = 64
    max_items: int | None = None
    train_product: str = "train_data"
    val_product: str = "val_data"

    def __post_init__(self) -> None:
        require(self.rounds >= 1, "rounds", self.rounds, ">= 1")
        require(self.val_size >= 1, "val_size", self.val_size, ">= 1")
        require(self.max_items is None or self.max_items >= 1, "max_items", self.max_items, ">= 1 or null")
        require(
            self.train_product != self.val_product, "val_product", self.val_product, "unlike train_product"
        )


class FlywheelStage:
    """Writes `<run>/<stage>/train` and `val` (HF datasets in the data stage's format, plus
    code/trajectory/provenance columns), `rounds/round_NNN/` (items, images, pools, stats; the
    resume points) and `report.md` + `growth.png`.

    Args:
        settings: `FlywheelSettings`.
    Products: train_data, val_data (or the keys given), flywheel_pools (the last round's dir).
    """

    requires: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()

    all_ranks = False  # rank 0 evolves the data; the other ranks wait for it (vrl.run)

    def __init__(self, settings: FlywheelSettings) -> None:
        self.settings = settings
        self.writes = (settings.train_product, settings.val_product, "flywheel_pools")

    def check(self, context: StageContext) -> None:
        need(context.components.flywheel, "flywheel", "flywheel", "procedural")
        if context.components.sandbox is None:
            raise ConfigError("the flywheel stage executes generated code: add sandbox=local")

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from vrl.flywheel.dataset import read_items, split_items, write_dataset
        from vrl.flywheel.flywheel import round_dirs
        from vrl.flywheel.report import rounds_table, write_report

        s = self.settings
        work = context.stage_dir
        stats = context.components.flywheel.run(work, context.components.sandbox, s.rounds, seed=context.seed)
        rounds = round_dirs(work)[: s.rounds]
        items = read_items(rounds)
        if len(items) <= s.val_size:
            raise ConfigError(
                f"flywheel: {len(items)} accepted items for val_size={s.val_size}; "
                f"run more rounds, raise flywheel.combinations_per_round or lower stage.{context.name}.val_size"
            )
        train, val = split_items(items, s.val_size, context.seed, s.max_items)
        write_dataset(train, work / "train")
        write_dataset(val, work / "val")
        seeds = (
            len((work / "seeds" / "knowledge_points.jsonl").read_text().splitlines()),
            len((work / "seeds" / "tools.jsonl").read_text().splitlines()),
        )
        write_report(stats, work, seeds)
        last = stats[-1]
        metrics = {
            "flywheel/items": float(len(items)),
            "flywheel/train_items": float(len(train)),
            "flywheel/knowledge_points": float(last["knowledge_points"]),
            "flywheel/tools": float(last["tools"]),
            "flywheel/kp_growth": last["knowledge_points"] / max(1, seeds[0]),
        }
        return StageResult(
            products={
                s.train_product: str(work / "train"),
                s.val_product: str(work / "val"),
                "flywheel_pools": str(rounds[-1]),
            },
            metrics=metrics,
            tables={"Flywheel": rounds_table(stats)},
        )
