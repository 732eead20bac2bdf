"""`zoom_count_holdout`: held-out interaction problems (count circles in one quadrant of a 224 px image).

The objects are too small for the tiny VLM's 112 px view, so the intended solution crops and
zooms with a `<code>` tool call (`vrl.data.procedural.interaction`). Items come from seeds >=
HOLDOUT_SEED_START with the same prompt as training; scoring reads the final answer
(`<answer>` tag or `\\boxed{}`). Without a tool runtime in the rollout the model answers from
what it sees; `code_rate` shows how often it at least tried the tool.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from vrl.answer.equivalence import is_equivalent
from vrl.answer.extraction import extract_final_answer
from vrl.benchmark.base import ItemScore, plain
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

_CODE = re.compile(r"<code>\s*```python\n.*?```\s*</code>", re.DOTALL)


class ZoomCountHoldout:
    """Accuracy overall, per difficulty (1-3) and per quadrant; chance = uniform over 1..4.

    Args:
        num_samples: held-out items.
        image_size: image side in px; match the training data.
        reference: paper numbers (none for a procedural set).
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
    """

    name = "zoom_count_holdout"

    def __init__(
        self,
        num_samples: int = 128,
        image_size: int = 224,
        reference: dict[str, dict[str, float]] | None = None,
        sampling: dict | None = None,
    ) -> None:
        from vrl.data.procedural.interaction import InteractionSource
        from vrl.data.procedural.registry import HOLDOUT_SEED_START

        # The direct variant needs no sandbox; the prompt is the same as the tool variant's.
        self.source = InteractionSource(
            num_samples=num_samples,
            seed_start=HOLDOUT_SEED_START,
            image_size=image_size,
            variant="direct",
            holdout=True,
        )
        self.reference = dict(reference or {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 256}))

    def load(self) -> Iterator[Sample | Skipped]:
        for sample in self.source.iter_samples():
            sample.response, sample.response_images = [], []  # the gold trajectory is not an input
            yield sample

    def score(self, response: str, sample: Sample) -> ItemScore:
        extracted = extract_final_answer(response)
        correct = extracted is not None and is_equivalent(extracted, sample.answer, sample.answer_type)
        used_code = _CODE.search(response) is not None
        return ItemScore(
            extracted=extracted, correct=correct, score=float(correct), details={"code": used_code}
        )

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        from vrl.data.procedural.interaction import MAX_COUNT

        if not items:
            return {"accuracy": 0.0}
        groups: dict[str, list[float]] = defaultdict(list)
        for sample, score in items:
            groups[f"difficulty_{sample.metadata.get('difficulty')}"].append(score.score)
            groups[str(sample.metadata.get("quadrant"))].append(score.score)
        result = {
            "accuracy": 100 * sum(s.score for _, s in items) / len(items),
            "chance": 100 / MAX_COUNT,
            "code_rate": 100 * sum(bool(s.details.get("code")) for _, s in items) / len(items),
        }
        result.update({f"accuracy/{k}": 100 * sum(v) / len(v) for k, v in sorted(groups.items())})
        return result
