"""The eval stage's per-item table: every scored item up to a cap, with its image, for people.

Each benchmark's first `max_items` items (in benchmark order, right and wrong alike) go to the
W&B table `eval/<benchmark>/items` with their correctness; their first image is saved as
`<eval>/<benchmark>/images/<n>.png` inside the run dir (the table's copy goes to W&B's own
folder under `<run>/wandb`). `items.jsonl` and `items.csv` keep every item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger

from vrl.data.schema import Sample

COLUMNS = ["id", "category", "question", "gold", "extracted", "correct", "response", "image"]


def log_item_table(
    loggers: list[Any], name: str, scored: list[tuple[Sample, Any]], out_dir: Path, max_items: int
) -> int:
    """Save the images of the first `max_items` items and log their W&B table; how many rows."""
    wandb_loggers = [logger for logger in loggers if isinstance(logger, WandbLogger)]
    chosen = scored[:max_items]
    if not wandb_loggers or not chosen:
        return 0
    import wandb

    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    data = []
    for index, (sample, score) in enumerate(chosen):
        image = None
        if sample.images:
            path = image_dir / f"{index}.png"
            sample.images[0].save(path)
            image = wandb.Image(str(path), caption=sample.id)
        data.append(
            [
                sample.id,
                sample.category,
                sample.question,
                sample.answer,
                score.extracted or "",
                bool(score.correct),
                score.details.get("response", ""),
                image,
            ]
        )
    for logger in wandb_loggers:
        logger.log_table(f"eval/{name}/items", columns=COLUMNS, data=data)
    return len(data)
