"""The eval stage in process: per-item cache, resume after a crash, tables and metrics."""

import json

from vrl_testing import hf_engine

from vrl.benchmark.procedural_holdout import ProceduralHoldout
from vrl.components import Components
from vrl.loggers import RunLoggers
from vrl.model import TinyQwen25VL
from vrl.stages.base import StageContext
from vrl.stages.eval import EvalSettings, EvalStage


def test_eval_resumes_from_its_item_cache(tmp_path):
    components = Components(
        model=TinyQwen25VL(),
        rollout=hf_engine(batch_size=4, max_new_tokens=4),
        benchmark={"procedural_holdout": ProceduralHoldout(num_samples=6)},
        logger=RunLoggers(wandb_mode="disabled"),
    )
    context = StageContext(name="eval", run_dir=tmp_path, components=components, config={}, seed=0)
    EvalStage(EvalSettings(limit=3, max_new_tokens=4)).run(context, {})
    cache = tmp_path / "eval" / "procedural_holdout" / "items.jsonl"
    first = cache.read_text().splitlines()
    assert len(first) == 3
    cache.write_text("\n".join(first) + '\n{"id": "procedural/cut-off-mid-wri')  # a crash mid-write

    result = EvalStage(EvalSettings(max_new_tokens=4)).run(context, {})
    lines = cache.read_text().splitlines()
    assert lines[:3] == first, "cached items must not be regenerated"
    assert len(lines) == 6 and len({json.loads(line)["id"] for line in lines}) == 6
    assert result.metrics["eval/procedural_holdout/items"] == 6
    assert "procedural_holdout | accuracy" in (tmp_path / "eval" / "summary.md").read_text()
    assert (tmp_path / "plots" / "eval_procedural_holdout.png").exists()


def test_tool_tally_weights_each_batch_by_its_size():
    from vrl.stages.eval import _ToolTally

    tally = _ToolTally()
    assert tally.metrics() == {}, "no tool metrics for an engine without tools"
    tally.add({}, 8)  # a batch from an engine without tools counts for nothing
    # 4 items, 1 call each, 1 of the 4 calls failed; then 2 items, neither called the tool
    tally.add({"tool/calls_per_traj": 1.0, "tool/error_rate": 0.25, "tool/traj_with_call_frac": 1.0}, 4)
    tally.add({"tool/calls_per_traj": 0.0, "tool/error_rate": 0.0, "tool/traj_with_call_frac": 0.0}, 2)
    metrics = tally.metrics()
    assert metrics["tool/traj_with_call_pct"] == 100 * 4 / 6
    assert metrics["tool/calls_per_item"] == 4 / 6
    assert metrics["tool/error_pct"] == 25.0


def test_the_item_cache_is_keyed_by_the_model_and_the_sampling(tmp_path):
    """An eval stopped with model A and rerun with model B (or other sampling) scores every item
    again with B; A's items are moved aside, never counted as B's."""
    benchmark = {"procedural_holdout": ProceduralHoldout(num_samples=4)}

    def context(seed: int, **sampling) -> StageContext:
        components = Components(
            model=TinyQwen25VL(seed=seed),
            rollout=hf_engine(batch_size=4, max_new_tokens=4, **sampling),
            benchmark=benchmark,
            logger=RunLoggers(wandb_mode="disabled"),
        )
        return StageContext(name="eval", run_dir=tmp_path, components=components, config={}, seed=0)

    cache = tmp_path / "eval" / "procedural_holdout" / "items.jsonl"
    EvalStage(EvalSettings(limit=2, max_new_tokens=4)).run(context(seed=0), {})
    first = cache.read_text()
    EvalStage(EvalSettings(limit=2, max_new_tokens=4)).run(context(seed=0), {})
    assert cache.read_text() == first, "the same model and sampling reuse the cache"

    EvalStage(EvalSettings(limit=2, max_new_tokens=4)).run(context(seed=1), {})  # model B
    assert (tmp_path / "eval" / "procedural_holdout" / "items.stale-1.jsonl").read_text() == first
    second = [json.loads(line) for line in cache.read_text().splitlines()]
    assert len(second) == 2 and {r["cache_key"] for r in second} != {
        json.loads(first.splitlines()[0])["cache_key"]
    }

    EvalStage(EvalSettings(limit=2, max_new_tokens=4)).run(context(seed=1, top_k=5), {})  # other sampling
    assert (tmp_path / "eval" / "procedural_holdout" / "items.stale-2.jsonl").exists()


def test_model_fingerprint_follows_the_weights(tmp_path):
    from vrl.stages.eval import model_fingerprint

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.json").write_text("{}")
    (tmp_path / "a" / "model.safetensors").write_bytes(bytes(range(256)) * 20_000)  # > 64 slices
    before = model_fingerprint(str(tmp_path / "a"))
    data = bytearray((tmp_path / "a" / "model.safetensors").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 100_000] = b"\x01" * 100_000  # a fine-tune changed a tensor
    (tmp_path / "a" / "model.safetensors").write_bytes(bytes(data))
    assert model_fingerprint(str(tmp_path / "a")) != before
    assert model_fingerprint("Qwen/Qwen2.5-VL-7B-Instruct").startswith("hub:Qwen/Qwen2.5-VL-7B-Instruct@")
