"""The eval stage in process: per-item cache, resume after a crash, tables and metrics."""

import json

from vrl.benchmark.procedural_holdout import ProceduralHoldout
from vrl.components import Components
from vrl.loggers import RunLoggers
from vrl.model import TinyQwen25VL
from vrl.rollout import HFRolloutEngine
from vrl.stages.base import StageContext
from vrl.stages.eval import EvalStage


def test_eval_resumes_from_its_item_cache(tmp_path):
    components = Components(
        model=TinyQwen25VL(),
        rollout=HFRolloutEngine(batch_size=4, max_new_tokens=4),
        benchmark={"procedural_holdout": ProceduralHoldout(num_samples=6)},
        logger=RunLoggers(wandb_mode="disabled"),
    )
    context = StageContext(name="eval", run_dir=tmp_path, components=components, config={}, seed=0)
    EvalStage(limit=3, max_new_tokens=4).run(context, {})
    cache = tmp_path / "eval" / "procedural_holdout" / "items.jsonl"
    first = cache.read_text().splitlines()
    assert len(first) == 3
    cache.write_text("\n".join(first) + '\n{"id": "procedural/cut-off-mid-wri')  # a crash mid-write

    result = EvalStage(max_new_tokens=4).run(context, {})
    lines = cache.read_text().splitlines()
    assert lines[:3] == first, "cached items must not be regenerated"
    assert len(lines) == 6 and len({json.loads(line)["id"] for line in lines}) == 6
    assert result.metrics["eval/procedural_holdout/items"] == 6
    assert "procedural_holdout | accuracy" in (tmp_path / "eval" / "summary.md").read_text()
    assert (tmp_path / "plots" / "eval_procedural_holdout.png").exists()
