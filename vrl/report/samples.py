"""Responses side by side: the first items an eval stage scored in every job, each job's response.

An eval stage writes `<stage>/<benchmark>/items.jsonl` (one scored response per item, `id`,
`gold`, `response`, `correct`). Nothing else keeps rollouts, so jobs without an eval stage give
no table (the report leaves the section out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vrl.report.document import Table
from vrl.report.sweep import Sweep

MAX_CHARS = 240  # of one response in a cell


def sample_tables(sweep: Sweep, labels: dict[str, str], per_benchmark: int = 4) -> list[Table]:
    """Per eval stage and benchmark, a table: item id, gold answer, then one column per job that
    holds the item (its response, with ✓ or ✗). Items are the first ones every such job scored."""
    tables = []
    found: dict[
        tuple[str, str], dict[str, dict[str, dict[str, Any]]]
    ] = {}  # (stage, bench) -> job -> id -> item
    for job in sweep.jobs:
        for path in sorted(job.path.glob("*/*/items.jsonl")):
            stage, benchmark = path.parent.parent.name, path.parent.name
            found.setdefault((stage, benchmark), {})[job.name] = _read_items(path)
    for (stage, benchmark), by_job in found.items():
        jobs = [job for job in sweep.jobs if by_job.get(job.name)]
        first = by_job[jobs[0].name]
        shared = [i for i in first if all(i in by_job[job.name] for job in jobs)][:per_benchmark]
        if not shared:
            continue
        rows = []
        for item_id in shared:
            row = [item_id, str(first[item_id].get("gold", ""))]
            for job in jobs:
                item = by_job[job.name][item_id]
                mark = "✓" if item.get("correct") else "✗"
                row.append(f"{mark} {_clip(str(item.get('response', '')))}")
            rows.append(row)
        tables.append(
            Table(
                ["item", "gold", *(labels[job.name] for job in jobs)],
                rows,
                caption=f"{stage} / {benchmark}: the first {len(shared)} items every job scored",
            )
        )
    return tables


def _read_items(path: Path) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if isinstance(item, dict) and "id" in item and "response" in item:
            items.setdefault(str(item["id"]), item)
    return items


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
