"""The `eval` stage: every configured benchmark on the current model, resumable per item.

Per benchmark it writes `<stage>/<benchmark>/items.jsonl` (appended batch by batch, so an
interrupted eval resumes where it stopped), `items.csv`, and `metrics.json`; across
benchmarks `summary.md` / `summary.csv` with the paper's reference numbers beside this run's.

A benchmark that scores an image the model produced (`needs_generated_images`, VTBench's
perception and instruction tasks) is rolled out through the engine's tool loop and scored with
the last image a tool returned in the trajectory (`score(response, sample, generated_image=...)`);
the image is kept as `<stage>/<benchmark>/images/<item>.png`.

The item cache is keyed by the model's fingerprint and the generation settings: a record
carries the key it was made under, and a cache made under another key (an eval stopped with
model A and rerun with model B, or with other sampling) is moved aside (`items.stale-N.jsonl`,
kept) instead of being scored as this model's answers.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vrl.data.schema import Sample, Skipped
from vrl.distributed import broadcast_object, gather_objects, shard, world
from vrl.errors import ConfigError
from vrl.loggers import finish
from vrl.policy.sampling import check_overrides, merge
from vrl.report import plot_benchmark
from vrl.settings import require
from vrl.stages.base import StageContext, StageResult, need
from vrl.stages.common import load_model
from vrl.stages.eval_items import log_item_table
from vrl.stages.preflight import check_benchmarks, check_rollout

log = logging.getLogger("vrl")


@dataclass(frozen=True)
class EvalSettings:
    """One eval stage.

    Attributes:
        limit: cap on items per benchmark (None = all).
        sampling: overrides of the rollout's sampling for evaluation (`vrl.policy.sampling`):
            greedy decoding; each benchmark then adds its own (its answer length).
        max_new_tokens: cap on every benchmark's generation length (None = theirs), for quick
            looks and tests.
        table_items: items per benchmark (right and wrong, with their first image) in the W&B
            table `eval/<benchmark>/items` (`vrl.stages.eval_items`); every item stays in items.jsonl.
    """

    limit: int | None = None
    sampling: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.0})
    max_new_tokens: int | None = None
    table_items: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", check_overrides("sampling", self.sampling))
        require(self.limit is None or self.limit >= 1, "limit", self.limit, ">= 1 or null (all items)")
        require(
            self.max_new_tokens is None or self.max_new_tokens >= 1,
            "max_new_tokens",
            self.max_new_tokens,
            ">= 1 or null",
        )
        require(
            self.table_items >= 0,
            "table_items",
            self.table_items,
            ">= 0",
        )


class EvalStage:
    """Generate and score every benchmark in `benchmark` with the current model (the `model`
    product, else the configured model).

    Sampling per benchmark: `rollout.sampling` <- `settings.sampling` <- the benchmark's own
    `sampling`, capped at `settings.max_new_tokens` (`vrl.policy.sampling`).

    Several ranks: each generates and scores its contiguous share of the items not yet in the
    cache, one batch per round; rank 0 receives every rank's records each round and appends them
    to `items.jsonl` (so an interrupted eval still resumes per item) and alone writes the
    results. Every item is scored once, by one rank.

    Args:
        settings: `EvalSettings`.
    """

    requires: tuple[str, ...] = ()
    reads: tuple[str, ...] = ("model",)
    writes: tuple[str, ...] = ()
    all_ranks = True  # every rank evaluates its share (vrl.run); rank 0 writes the results

    def __init__(self, settings: EvalSettings) -> None:
        self.settings = settings

    def check(self, context: StageContext) -> None:
        c = context.components
        need(c.model, "eval", "model", "tiny_qwen2_5_vl")
        check_rollout(need(c.rollout, "eval", "rollout", "hf"))
        need(c.logger, "eval", "logger", "default")
        if not c.benchmark:
            raise ConfigError(
                "the eval stage needs at least one benchmark: e.g. benchmark=[procedural_holdout]"
            )
        check_benchmarks(c.benchmark)

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from rich.progress import Progress

        benchmarks = context.components.benchmark
        engine = context.components.rollout
        loaded = load_model(context, products)
        model_key = model_fingerprint(loaded.path)
        loggers = context.components.logger.build(context.name, context.stage_dir, context.config)
        metrics: dict[str, float] = {}
        rows: list[dict[str, Any]] = []
        here = world()
        with Progress(disable=not here.is_zero) as progress:
            for name, benchmark in benchmarks.items():
                samples, skipped = self._load(benchmark)
                out_dir = context.stage_dir / name
                out_dir.mkdir(parents=True, exist_ok=True)
                cache = out_dir / "items.jsonl"
                sampling = merge(
                    engine.sampling,
                    self.settings.sampling,
                    benchmark.sampling,
                    cap=self.settings.max_new_tokens,
                )
                key = cache_key(model_key, sampling, engine.tool_loop)
                done = broadcast_object(
                    _read_cache(cache, key) if here.is_zero else None
                )  # rank 0 repairs it
                todo = [s for s in samples if s.id not in done]
                task = progress.add_task(
                    f"eval {name}", total=len(samples), completed=len(samples) - len(todo)
                )
                start = time.perf_counter()
                tools = _ToolTally()
                wants_images = bool(getattr(benchmark, "needs_generated_images", False))
                mine = shard(todo, here.rank, here.size)
                for i in range(0, -(-len(todo) // here.size), engine.batch_size):  # same rounds on every rank
                    batch = mine[i : i + engine.batch_size]
                    records = []
                    if batch:
                        responses, produced = _respond(engine, loaded, batch, sampling, wants_images)
                        tools.add(engine.last_stats, len(batch))
                        for sample, response, image in zip(batch, responses, produced):
                            extra = {"generated_image": image} if wants_images else {}
                            record = _score_record(benchmark, sample, response, **extra)
                            if image is not None:
                                record["generated_image"] = _save_image(out_dir, sample.id, image)
                            record["cache_key"] = key
                            records.append(record)
                    records = [r for part in gather_objects(records) for r in part]
                    if here.is_zero:
                        with cache.open("a") as handle:
                            handle.writelines(json.dumps(record) + "\n" for record in records)
                    done.update((record["id"], record) for record in records)
                    progress.advance(task, len(records))
                tools = _ToolTally.merged(gather_objects(tools))
                seconds = time.perf_counter() - start
                by_id = {s.id: s for s in samples}
                scored = [(by_id[i], _as_item_score(r)) for i, r in done.items() if i in by_id]
                bench_metrics = benchmark.metrics(scored)
                bench_metrics["items"] = float(len(scored))
                bench_metrics["skipped"] = float(sum(skipped.values()))
                bench_metrics.update(tools.metrics())
                metrics.update({f"eval/{name}/{k}": v for k, v in bench_metrics.items()})
                metrics[f"timing_s/eval/{name}"] = seconds
                rows.extend(_summary_rows(name, bench_metrics, benchmark.reference))
                if here.is_zero:
                    (out_dir / "metrics.json").write_text(json.dumps(bench_metrics, indent=2))
                    _write_items_csv(out_dir / "items.csv", [done[s.id] for s in samples if s.id in done])
                    log_item_table(loggers, name, scored, out_dir, self.settings.table_items)
                    plot_benchmark(context.run_dir, name, bench_metrics)
                log.info("eval %s: %s", name, {k: round(v, 4) for k, v in bench_metrics.items()})
        for logger in loggers:
            logger.log_metrics(metrics, step=0)
        finish(loggers)
        if not here.is_zero:
            return StageResult(metrics=metrics)
        table = _write_summary(context.stage_dir, rows)
        return StageResult(metrics=metrics, tables={"Evaluation": table})

    def _load(self, benchmark: Any) -> tuple[list[Sample], dict[str, int]]:
        samples: list[Sample] = []
        skipped: dict[str, int] = {}
        for item in benchmark.load():
            if isinstance(item, Skipped):
                skipped[item.reason] = skipped.get(item.reason, 0) + 1
                continue
            samples.append(item)
            if self.settings.limit is not None and len(samples) >= self.settings.limit:
                break
        return samples, skipped


class _ToolTally:
    """Tool use over the items a tool-using engine generated in this process (`tool_metrics`
    of each batch, re-weighted by its size); nothing for an engine without tools or when every
    item came from the cache."""

    def __init__(self) -> None:
        self.items = self.calls = self.errors = self.with_call = 0.0

    @classmethod
    def merged(cls, tallies: list[_ToolTally]) -> _ToolTally:
        """Every rank's tally, added up."""
        out = cls()
        for tally in tallies:
            out.items += tally.items
            out.calls += tally.calls
            out.errors += tally.errors
            out.with_call += tally.with_call
        return out

    def add(self, stats: dict[str, float], items: int) -> None:
        if "tool/calls_per_traj" not in stats:
            return
        calls = stats["tool/calls_per_traj"] * items
        self.items += items
        self.calls += calls
        self.errors += stats["tool/error_rate"] * calls
        self.with_call += stats["tool/traj_with_call_frac"] * items

    def metrics(self) -> dict[str, float]:
        if not self.items:
            return {}
        return {
            "tool/traj_with_call_pct": 100 * self.with_call / self.items,
            "tool/calls_per_item": self.calls / self.items,
            "tool/error_pct": 100 * self.errors / self.calls if self.calls else 0.0,
        }


def _save_image(out_dir: Path, item_id: str, image: Any) -> str:
    """Keep an image the model produced for an item; the path relative to the benchmark's folder."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in item_id) + ".png"
    (out_dir / "images").mkdir(exist_ok=True)
    image.convert("RGB").save(out_dir / "images" / name)
    return f"images/{name}"


def _score_record(benchmark: Any, sample: Sample, response: str, **extra: Any) -> dict[str, Any]:
    score = benchmark.score(response, sample, **extra)
    return {
        "id": sample.id,
        "category": sample.category,
        "response": response,
        "extracted": score.extracted,
        "gold": sample.answer,
        "correct": bool(score.correct),
        "score": float(score.score),
        "judge": score.judge,
        "details": score.details,
    }


def _as_item_score(record: dict[str, Any]) -> Any:
    from vrl.benchmark.base import ItemScore

    details = dict(record.get("details") or {})
    details.setdefault("response", record["response"])
    return ItemScore(
        extracted=record["extracted"],
        correct=record["correct"],
        score=record["score"],
        judge=record.get("judge", "rule"),
        details=details,
    )


def _respond(
    engine: Any, loaded: Any, batch: list[Sample], sampling: Any, wants_images: bool
) -> tuple[list[str], list[Any]]:
    """The engine's responses to `batch`, and per response the last image a tool produced (None
    where none was, or where the benchmark scores text only). Image-scoring benchmarks are
    rolled out through the engine's tool loop; the others generate."""
    if wants_images and engine.tool_loop is not None:
        trajectories = engine.rollout(loaded.model, loaded.processor, batch, **asdict(sampling))
        produced = [t.tool_images[-1] if t.tool_images else None for t in trajectories]
        return [t.text for t in trajectories], produced
    return engine.generate(loaded.model, loaded.processor, batch, **asdict(sampling)), [None] * len(batch)


def _read_cache(path: Path, key: str) -> dict[str, dict[str, Any]]:
    """Items already scored under `key`. A last line cut by a crash is removed (that item is
    redone), so the next append starts on a fresh line. A cache holding any item made under
    another key (another model or sampling) is moved aside, kept, and nothing of it is used."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        path.write_text(text)
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("cache_key") != key:
            stale = _free_name(path)
            path.rename(stale)
            log.warning(
                "eval: %s was made with another model or other generation settings; moved it to %s "
                "and scoring every item again",
                path,
                stale.name,
            )
            return {}
        done[record["id"]] = record
    return done


def _free_name(path: Path) -> Path:
    n = 1
    while path.with_name(f"items.stale-{n}.jsonl").exists():
        n += 1
    return path.with_name(f"items.stale-{n}.jsonl")


def cache_key(model: str, sampling: Any, tool_loop: Any = None) -> str:
    """What an eval item's response depends on besides the item: the model's fingerprint, the
    generation settings and the tool loop (its tool and turn limit)."""
    tool = None
    if tool_loop is not None:
        tool = [type(tool_loop.tool).__name__, getattr(tool_loop, "max_turns", None)]
    payload = json.dumps(
        {"model": model, "sampling": asdict(sampling), "tool": tool}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def model_fingerprint(path: str) -> str:
    """A fingerprint of the checkpoint at `path`: for a local directory, its config and a hash of
    its weight files (whole when small, else 64 slices spread over each file: any full or LoRA
    fine-tune changes them); for a hub id, the id and the cached revision."""
    local = Path(path)
    if not local.is_dir():
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(path, "config.json")
        return f"hub:{path}@{Path(cached).parent.name if isinstance(cached, str) else '?'}"
    digest = hashlib.sha256()
    for file in sorted(local.iterdir()):
        if file.name == "config.json" or file.suffix in (".safetensors", ".bin"):
            digest.update(file.name.encode())
            digest.update(_file_sample(file))
    return digest.hexdigest()[:16]


def _file_sample(path: Path, slices: int = 64, size: int = 65536) -> bytes:
    total = path.stat().st_size
    with path.open("rb") as handle:
        if total <= slices * size:
            return hashlib.sha256(handle.read()).digest()
        digest = hashlib.sha256(str(total).encode())
        for i in range(slices):
            handle.seek(i * (total - size) // (slices - 1))
            digest.update(handle.read(size))
        return digest.digest()


def _write_items_csv(path: Path, records: list[dict[str, Any]]) -> None:
    columns = ["id", "category", "gold", "extracted", "correct", "score", "judge", "response"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def _summary_rows(name: str, metrics: dict[str, float], reference: dict[str, dict[str, float]]) -> list[dict]:
    rows = []
    for metric, value in metrics.items():
        paper = "; ".join(f"{model}: {vals[metric]}" for model, vals in reference.items() if metric in vals)
        rows.append({"benchmark": name, "metric": metric, "this run": round(value, 4), "paper": paper})
    return rows


def _write_summary(stage_dir: Path, rows: list[dict[str, Any]]) -> str:
    columns = ["benchmark", "metric", "this run", "paper"]
    with (stage_dir / "summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|---|---|---:|---|"]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    table = "\n".join(lines)
    (stage_dir / "summary.md").write_text(table + "\n")
    return table
