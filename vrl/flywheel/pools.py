"""The knowledge-point and tool pools: jsonl files in the run dir, loadable from a file or an HF dataset.

Seeds (K0, T0) come from `seeds/*.jsonl` in this package unless a path or a hub dataset id is
configured. Every round writes its pools beside its items, so a resumed run reloads them.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from vrl.errors import ConfigError, MissingFileError

from .protocol import KnowledgePoint, Tool

SEED_DIR = Path(__file__).parent / "seeds"
BUILTIN = {"knowledge_points": SEED_DIR / "knowledge_points.jsonl", "tools": SEED_DIR / "tools.jsonl"}


def load_pool(source: str | None, kind: str) -> list[KnowledgePoint] | list[Tool]:
    """Entries of pool `kind` ("knowledge_points" | "tools") from a jsonl file, an HF dataset id or dir, or the built-in seeds (None)."""
    cls = KnowledgePoint if kind == "knowledge_points" else Tool
    key = f"flywheel.seeds.{kind}"
    if source is None:
        rows = _read_jsonl(BUILTIN[kind], key)
    elif source.endswith(".jsonl"):
        rows = _read_jsonl(Path(source), key)
    else:
        rows = _read_hf(source, key)
    entries = [_entry(cls, row, key, i) for i, row in enumerate(rows)]
    if not entries:
        raise ConfigError(f"{key}={source}: no entries; give a non-empty jsonl file or dataset")
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{key}={source}: duplicate ids; every entry needs a unique `id`")
    return entries


def write_pool(entries: list[Any], path: Path) -> None:
    """One JSON object per line, in pool order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e.to_dict(), sort_keys=True) + "\n" for e in entries))


def read_pool(path: Path, kind: str) -> list[Any]:
    """A pool that `write_pool` wrote (a finished round's snapshot)."""
    cls = KnowledgePoint if kind == "knowledge_points" else Tool
    return [_entry(cls, row, str(path), i) for i, row in enumerate(_read_jsonl(path, str(path)))]


def _read_jsonl(path: Path, key: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise MissingFileError(
            f"{key}: no file at {path}; give a jsonl path, an HF dataset, or null for the seeds"
        )
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ConfigError(
                    f"{key}: {path} line {n} is not JSON ({error.msg}); fix or remove it"
                ) from None
    return rows


def _read_hf(source: str, key: str) -> list[dict[str, Any]]:
    import datasets

    try:
        if Path(source).is_dir():
            data = datasets.load_from_disk(source)
        else:
            data = datasets.load_dataset(source, split="train")
    except (FileNotFoundError, ValueError, OSError) as error:
        raise MissingFileError(
            f"{key}={source}: cannot load as an HF dataset ({type(error).__name__})"
        ) from None
    return [dict(row) for row in data]


def _entry(cls: type, row: dict[str, Any], key: str, index: int) -> Any:
    names = {f.name for f in fields(cls)}
    required = {"id", "description", "domain"} | ({"name", "code"} if cls is Tool else set())
    missing = sorted(required - set(row))
    if missing:
        raise ConfigError(
            f"{key}: entry {index} lacks {', '.join(missing)}; every entry needs {sorted(required)}"
        )
    row = {k: v for k, v in row.items() if k in names}
    if isinstance(row.get("params"), str):  # HF datasets store nested dicts as JSON strings
        row["params"] = json.loads(row["params"])
    return cls(**row)
