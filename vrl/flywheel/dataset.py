"""The evolved dataset: finished rounds' items as HF datasets in vrl's sample schema (+ code, trajectory, provenance).

Rows are `Sample.to_record()` rows (what the data stage writes, so the SFT and RL stages read
them with `Sample.from_record`, which ignores the extra columns) plus three JSON string
columns: `code` (the rendering program), `trajectory` ([{text, code, tool, image}]) and
`provenance` (round, creator, parents, knowledge points, tools, checks passed, ...).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

from PIL import Image

from vrl.data.schema import IMAGE_PLACEHOLDER, Sample, hf_features

EXTRA_COLUMNS = ("code", "trajectory", "provenance")


def features():
    from datasets import Features, Value

    return Features({**hf_features(), **{c: Value("string") for c in EXTRA_COLUMNS}})


def read_items(round_dirs: list[Path]) -> list[dict[str, Any]]:
    """Every accepted item of these rounds (items.jsonl lines), with `image` made absolute."""
    items = []
    for d in round_dirs:
        for line in (d / "items.jsonl").read_text().splitlines():
            item = json.loads(line)
            item["image"] = str(d / item["image"])
            items.append(item)
    return items


def to_sample(item: dict[str, Any]) -> Sample:
    """The item as a vrl `Sample` (prompt = image placeholder + question, like the procedural source)."""
    image = Image.open(io.BytesIO(Path(item["image"]).read_bytes()))
    return Sample(
        id=item["id"],
        images=[image],
        prompt=[{"role": "user", "content": IMAGE_PLACEHOLDER + item["question"]}],
        answer=item["answer"],
        answer_type=item["answer_type"],
        choices=list(item["choices"]),
        category=item["domain"],
        source="flywheel",
        metadata={
            "difficulty": item["difficulty"],
            "round": item["provenance"]["round"],
            "facts": item["facts"],
        },
    )


def write_dataset(items: list[dict[str, Any]], out_dir: Path) -> int:
    """Save `items` as one HF dataset at `out_dir` (atomically replaced); returns the row count."""
    from datasets import Dataset

    rows = []
    for item in items:
        record = to_sample(item).to_record()
        record["images"] = [{"bytes": Path(item["image"]).read_bytes(), "path": None}]
        record["code"] = item["code"]
        record["trajectory"] = json.dumps(item["trajectory"], sort_keys=True)
        record["provenance"] = json.dumps(item["provenance"], sort_keys=True)
        rows.append(record)
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}")
    Dataset.from_list(rows, features=features()).save_to_disk(str(tmp), num_shards=1)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return len(rows)


def split_items(items: list[dict[str, Any]], val_size: int, seed: int, max_items: int | None = None):
    """(train, val): a seeded shuffle, `val_size` held out, train capped at `max_items` (None = all)."""
    order = list(items)
    random.Random(seed).shuffle(order)
    val, train = order[:val_size], order[val_size:]
    return (train if max_items is None else train[:max_items]), val
