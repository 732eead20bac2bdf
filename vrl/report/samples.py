"""Responses side by side: what each job's policy wrote, next to the other jobs'.

- Eval (`sample_tables`): an eval stage writes `<stage>/<benchmark>/items.jsonl` (one scored
  response per item, `id`, `gold`, `response`, `correct`); the report shows the first items every
  job scored, one column per job.
- RL rollouts (`rollout_blocks`): an RL stage writes `<stage>/samples/step_<k>.jsonl` and the
  prompt images (`vrl.rl.samples`); the report shows, at the last sample step every job reached,
  each job's first group: its prompt image, prompt, answer and the group's responses with their
  reward and advantage, one row per job.

Jobs without such files give no table (the report leaves the section out)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from vrl.report.document import Block, Image, Table, Text
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


def rollout_blocks(sweep: Sweep, labels: dict[str, str], out: Path, responses: int = 4) -> list[Block]:
    """Per RL stage with samples in every job that ran it: the prompt images of each job's first
    group at the last sample step they all wrote (copied into `out`), then one row per job."""
    blocks: list[Block] = []
    stages = sorted({path.parent.parent.name for job in sweep.jobs for path in job.path.glob(_SAMPLES)})
    for stage in stages:
        steps = {job.name: _sample_steps(job.path / stage / "samples") for job in sweep.jobs}
        jobs = [job for job in sweep.jobs if steps[job.name]]
        common = set.intersection(*(set(steps[job.name]) for job in jobs)) if jobs else set()
        if not common:  # no job wrote a step file by its name (`step_<k>.jsonl`), or none in common
            continue
        step = max(common)
        rows, images = [], []
        for job in jobs:
            group = _first_group(job.path / stage / "samples" / f"step_{step}.jsonl")
            if not group:
                continue
            first = group[0]
            for index, relative in enumerate(first.get("images") or []):
                source = job.path / stage / "samples" / relative
                if source.is_file():
                    copy = out / f"rollout_{stage}_job{job.name}_{index}.png"
                    shutil.copyfile(source, copy)
                    images.append(
                        Image(copy.relative_to(out), f"{labels[job.name]}: {first.get('sample_id', '')}", 160)
                    )
            lines = [
                f"{_number(row.get('reward'), '.2f')} / {_number(row.get('advantage'), '+.2f')}: "
                f"{_clip(' '.join(str(row['response']).split())) or '(empty)'}"  # one line each
                for row in group[:responses]
            ]
            rows.append(
                [
                    labels[job.name],
                    _clip(str(first.get("prompt", ""))),
                    str(first.get("answer", "")),
                    "\n".join(lines),
                ]
            )
        if rows:
            blocks += [
                Text(f"{stage}, step {step + 1}: each job's first group (its prompt images, in job order)."),
                *images,
                Table(
                    ["job", "prompt", "answer", f"responses (reward / advantage), first {responses}"],
                    rows,
                    caption=f"{stage}: rollouts at step {step + 1}, the last sample step every job wrote",
                ),
            ]
    return blocks


_SAMPLES = "*/samples/step_*.jsonl"


def _sample_steps(directory: Path) -> list[int]:
    return [
        int(m.group(1))
        for p in directory.glob("step_*.jsonl")
        if (m := re.fullmatch(r"step_(\d+)\.jsonl", p.name))
    ]


def _number(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)  # unscored (a row written before scoring)


def _first_group(path: Path) -> list[dict[str, Any]]:
    """The rows of the file's first group (rows are written group by group)."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if not isinstance(row, dict) or "response" not in row:
            continue
        if rows and row.get("group") != rows[0].get("group"):
            break
        rows.append(row)
    return rows


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
