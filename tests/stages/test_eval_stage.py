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
