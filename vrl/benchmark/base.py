"""What a benchmark is, plus the loading and metric helpers every benchmark shares.

A benchmark loads its published records as `Sample`s (with the benchmark's own prompt),
scores one response against one sample with a pure function, and aggregates item scores into
metrics. Metrics are percentages in [0, 100] ("accuracy", "accuracy/<breakdown>/<value>"),
the scale the papers report, so `reference` values sit beside them unchanged.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from vrl.data.schema import Sample, Skipped
from vrl.errors import MissingFileError


@dataclass
class ItemScore:
    """How one response scored.

    Attributes:
        extracted: the answer pulled from the response (None: nothing answerable found).
        correct: whether it counts as right.
        score: the item's contribution to the headline metric (1.0/0.0 for accuracy).
        judge: which path decided: "rule", or the judge's name ("openai:<model>", "model");
            "rule_fallback" when a configured judge failed and the rule path decided.
        details: anything a breakdown or a debugging table needs (JSON-serialisable).
    """

    extracted: str | None
    correct: bool
    score: float
    judge: str = "rule"
    details: dict = field(default_factory=dict)


@runtime_checkable
class Benchmark(Protocol):
    """A benchmark option: `_target_` of each `conf/benchmark/*.yaml`."""

    name: str
    reference: dict[str, dict[str, float]]  # paper numbers: model -> metric -> value
    sampling: dict  # overrides of the eval stage's sampling, e.g. {"max_new_tokens": 4096}

    def load(self) -> Iterator[Sample | Skipped]: ...

    def score(self, response: str, sample: Sample) -> ItemScore: ...

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]: ...


def score_many(benchmark: Benchmark, responses: list[str], samples: list[Sample]) -> list[ItemScore]:
    """Score a batch; benchmarks with a model judge batch its calls via their `score_many`."""
    batched = getattr(benchmark, "score_many", None)
    if callable(batched):
        return batched(responses, samples)
    return [benchmark.score(r, s) for r, s in zip(responses, samples)]


# ---------------------------------------------------------------- loading


def load_rows(path: str, split: str, *, name: str | None = None, option: str = "") -> Iterator[dict]:
    """Rows of a benchmark, from a hub id or a local copy.

    Local copies: a `save_to_disk` folder (a DatasetDict picks `split`), a parquet/json/jsonl
    file, or a folder of such files (files whose name starts with `split` are preferred, and a
    sub-folder named `name` is entered first: the hub's own layout). JSON files may be a list
    of records or a dict of records keyed by id (MathVista, LogicVista releases); the key
    lands in `_key`. Anything else is treated as a hub id: `load_dataset(path, name, split)`.

    Raises MissingFileError (one line naming `benchmark.<option>.path`) for a local-looking
    path that does not exist.
    """
    p = Path(path).expanduser()
    if p.exists():
        yield from _rows_from_local(p, split, name, option)
        return
    if _looks_local(path):
        raise MissingFileError(
            f"benchmark.{option}.path: {path} does not exist; point it at a local copy "
            f"(save_to_disk folder, parquet/json/jsonl) or at the hub id"
        )
    from datasets import load_dataset

    yield from load_dataset(path, name, split=split)


def _looks_local(path: str) -> bool:
    return (
        path.startswith(("/", ".", "~"))
        or path.count("/") != 1
        or Path(path).suffix in (".parquet", ".json", ".jsonl", ".arrow")
    )


def _rows_from_local(p: Path, split: str, name: str | None, option: str) -> Iterator[dict]:
    if p.is_dir():
        if name and (p / name).is_dir():
            p = p / name
        elif name and any(d.is_dir() and d.name not in ("data", "images") for d in p.iterdir()):
            # a per-config layout without this config: reading the others instead would be wrong
            raise MissingFileError(f"benchmark.{option}.path: {p} has no '{name}' folder (config {name!r})")
        if (p / "dataset_dict.json").exists() or (p / "state.json").exists():
            from datasets import DatasetDict, load_from_disk

            ds = load_from_disk(str(p))
            yield from ds[split] if isinstance(ds, DatasetDict) else ds
            return
        files = sorted(f for f in p.rglob("*") if f.suffix in (".parquet", ".json", ".jsonl"))
        # "test.parquet", "test-00000-of-00001.parquet" or "test/*.parquet" (not "testmini").
        preferred = [
            f for f in files if f.stem == split or f.stem.startswith(f"{split}-") or f.parent.name == split
        ]
        for f in preferred or files:
            yield from _rows_from_file(f)
        return
    yield from _rows_from_file(p)


def _rows_from_file(f: Path) -> Iterator[dict]:
    if f.suffix == ".parquet":
        from datasets import Dataset

        # Dataset.from_parquet keeps the HF feature metadata, so Image columns decode to PIL.
        for row in Dataset.from_parquet(str(f)):
            yield {**row, "_root": str(f.parent)}
        return
    text = f.read_text(encoding="utf-8")
    if f.suffix == ".jsonl":
        records: Iterable[Any] = (json.loads(line) for line in text.splitlines() if line.strip())
    else:
        obj = json.loads(text)
        records = obj if isinstance(obj, list) else [{"_key": k, **v} for k, v in obj.items()]
    for record in records:
        yield {**record, "_root": str(f.parent)}


def to_image(value: Any, root: str | None = None) -> Image.Image | None:
    """A PIL image from a decoded image, `{"bytes"|"path"}` dict, bytes, or a path (relative
    paths resolve against `root`, the folder of the file the row came from); None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):
        if value.get("bytes"):
            return Image.open(io.BytesIO(value["bytes"]))
        value = value.get("path")
        if not value:
            return None
    if isinstance(value, (bytes, bytearray)):
        return Image.open(io.BytesIO(value))
    path = Path(str(value))
    if not path.is_absolute() and root:
        path = Path(root) / path
    return Image.open(path)


def limited(rows: Iterable[Sample | Skipped], limit: int | None) -> Iterator[Sample | Skipped]:
    """The first `limit` Samples (Skipped records pass through and do not count)."""
    n = 0
    for row in rows:
        if limit is not None and n >= limit:
            return
        yield row
        n += isinstance(row, Sample)


# ---------------------------------------------------------------- metrics


def accuracy_metrics(
    items: list[tuple[Sample, ItemScore]], breakdowns: Iterable[str] = ()
) -> dict[str, float]:
    """`accuracy` (percent) plus `accuracy/<key>/<value>` for each metadata key in `breakdowns`
    (list-valued keys, e.g. skills, count an item once under each value), plus `count` and the
    share of items decided by a judge other than the rule path (`judge/model_fraction`)."""
    out: dict[str, float] = {"accuracy": _pct([s.score for _, s in items]), "count": float(len(items))}
    for key in breakdowns:
        groups: dict[str, list[float]] = defaultdict(list)
        for sample, score in items:
            values = _breakdown_values(sample, key)
            for v in values:
                groups[v].append(score.score)
        for value, scores in sorted(groups.items()):
            out[f"accuracy/{key}/{value}"] = _pct(scores)
    if items:
        judged = sum(1 for _, s in items if not s.judge.startswith("rule"))
        out["judge/model_fraction"] = 100.0 * judged / len(items)
        out["judge/fallback_fraction"] = (
            100.0 * sum(s.judge == "rule_fallback" for _, s in items) / len(items)
        )
    return out


def _breakdown_values(sample: Sample, key: str) -> list[str]:
    raw = sample.metadata.get(key)
    if raw is None and key == "category":
        raw = sample.category
    if raw is None or raw == "":
        return []
    values = raw if isinstance(raw, (list, tuple)) else [raw]
    return [str(v).replace("/", "-") for v in values]


def _pct(scores: list[float]) -> float:
    return 100.0 * sum(scores) / len(scores) if scores else 0.0


def plain(value: Any, default: Any = None) -> Any:
    """A plain dict/list copy of a config value (Hydra passes DictConfig), or `default`."""
    if value is None:
        return default
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # omegaconf is a dependency; this only keeps base importable without it
        pass
    return json.loads(json.dumps(value))


def user_prompt(text: str, system: str | None = None) -> list[dict[str, str]]:
    """Chat messages for a one-turn prompt (`<image>` placeholders stay in `text`)."""
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": text}]
