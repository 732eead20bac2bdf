"""The `flywheel` stage: run the configured data-evolution strategy, then write its dataset and report."""

from __future__ import annotations

import logging

from vrl.errors import ConfigError
from vrl.stages.base import StageContext, StageResult

log = logging.getLogger("vrl")


class FlywheelStage:
    """Writes `<run>/<stage>/train` and `val` (HF datasets in the data stage's format, plus
    code/trajectory/provenance columns), `rounds/round_NNN/` (items, images, pools, stats; the
    resume points) and `report.md` + `growth.png`.

    Args:
        rounds: flywheel rounds to run in total (finished ones are kept on resume).
        val_size: accepted items held back for validation loss.
        max_items: cap on the training set (null = every accepted item).
        train_product, val_product: the product keys this stage writes (as the data stage's).
    Products: train_data, val_data (or the keys above), flywheel_pools (the last round's dir).
    """

    def __init__(
        self,
        rounds: int = 5,
        val_size: int = 64,
        max_items: int | None = None,
        train_product: str = "train_data",
        val_product: str = "val_data",
    ) -> None:
        if rounds < 1:
            raise ConfigError(f"stage.flywheel.rounds={rounds}: run at least 1 round")
        self.rounds, self.val_size, self.max_items = rounds, val_size, max_items
        self.train_product, self.val_product = train_product, val_product

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from vrl.flywheel.dataset import read_items, split_items, write_dataset
        from vrl.flywheel.flywheel import round_dirs
        from vrl.flywheel.report import rounds_table, write_report
        from vrl.sandbox import make_sandbox

        flywheel = context.components.flywheel
        if flywheel is None:
            raise ConfigError(
                "the flywheel stage needs a strategy: e.g. flywheel=procedural (or flywheel=model)"
            )
        work = context.stage_dir
        sandbox = context.components.sandbox
        own = sandbox is None
        if own:  # the flywheel always executes generated code: default to the strongest local sandbox
            log.info("flywheel: no sandbox configured; starting sandbox=auto for this stage")
            sandbox = make_sandbox(backend="auto", workers=flywheel.workers)
        try:
            stats = flywheel.run(work, sandbox, self.rounds, seed=context.seed)
        finally:
            if own:
                sandbox.close()
        rounds = round_dirs(work)[: self.rounds]
        items = read_items(rounds)
        if len(items) <= self.val_size:
            raise ConfigError(
                f"flywheel: {len(items)} accepted items for val_size={self.val_size}; "
                "run more rounds, raise flywheel.combinations_per_round or lower stage.flywheel.val_size"
            )
        train, val = split_items(items, self.val_size, context.seed, self.max_items)
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
                self.train_product: str(work / "train"),
                self.val_product: str(work / "val"),
                "flywheel_pools": str(rounds[-1]),
            },
            metrics=metrics,
            tables={"Flywheel": rounds_table(stats)},
        )
