"""Any vrl model option + rollout engine as the `generate(prompts, images=None)` a `ModelJudge` calls.

Config (e.g. in conf/benchmark/mathverse.yaml):
    judge:
      _target_: vrl.answer.judge.ModelJudge
      name: qwen2.5-vl-72b
      engine:
        _target_: vrl.benchmark.judge_engine.VLMJudgeEngine
        model: {_target_: vrl.model.PretrainedVLM, path: Qwen/Qwen2.5-VL-72B-Instruct}
        rollout: {_target_: vrl.rollout.HFRolloutEngine, max_new_tokens: 16, temperature: 0.0}
The judge model is loaded on first use, not at config time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vrl.data.schema import Sample


class VLMJudgeEngine:
    """Greedy generation with a (lazily loaded) judge VLM.

    Args:
        model: a model option (`vrl.model.PretrainedVLM`, `TinyQwen25VL`, ...).
        rollout: a rollout engine (`vrl.rollout.HFRolloutEngine`, ...).
        work_dir: where a locally built model (tiny) is written.
    """

    def __init__(self, model: Any, rollout: Any, work_dir: str = "judge_model") -> None:
        self.spec = model
        self.rollout = rollout
        self.work_dir = Path(work_dir)
        self._loaded: Any = None

    def generate(
        self, prompts: Sequence[str], images: Sequence[Sequence[Image.Image]] | None = None
    ) -> list[str]:
        if self._loaded is None:
            self._loaded = self.spec.load(self.spec.resolve(self.work_dir, iter(prompts)))
        samples = [
            Sample(
                id=f"judge/{i}",
                images=list(images[i]) if images else [],
                prompt=[{"role": "user", "content": prompt}],
                answer="",
            )
            for i, prompt in enumerate(prompts)
        ]
        return self.rollout.generate(self._loaded.model, self._loaded.processor, samples, temperature=0.0)
