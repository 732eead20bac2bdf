"""`perception_holdout`: held-out point-level perception problems (vrl/data/procedural/perception.py).

Coordinate answers count as right within the item's tolerance (half a grid cell, Euclidean, as
V-Perception scores points); shape names by normalised text. The final answer is read from
`<answer>`/`\\boxed{}` like every benchmark's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from vrl.answer.equivalence import is_equivalent
from vrl.answer.extraction import extract_final_answer
from vrl.benchmark.base import ItemScore, plain
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides


def score_perception(response: str, sample: Sample) -> ItemScore:
    """Pure scorer: coordinates within `metadata["tolerance"]` px, other answers by `is_equivalent`."""
    from vrl.data.procedural.perception import coordinates_close

    extracted = extract_final_answer(response)
    if sample.answer_type == "coordinates":
        correct = coordinates_close(extracted, sample.answer, float(sample.metadata["tolerance"]))
    else:
        correct = extracted is not None and is_equivalent(extracted, sample.answer, sample.answer_type)
    return ItemScore(extracted=extracted, correct=correct, score=float(correct))


class PerceptionHoldout:
    """Accuracy overall and per kind (locate / marked / vertex = difficulty 1 / 2 / 3).

    Args:
        num_samples: held-out items (seeds from HOLDOUT_SEED_START).
        image_size: image side in px; match the training data.
        reference: paper numbers (none for a procedural set).
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
    """

    name = "perception_holdout"

    def __init__(
        self,
        num_samples: int = 96,
        image_size: int = 112,
        reference: dict[str, dict[str, float]] | None = None,
        sampling: dict | None = None,
    ) -> None:
        from vrl.data.procedural.perception import PerceptionSource
        from vrl.data.procedural.registry import HOLDOUT_SEED_START

        self.source = PerceptionSource(
            num_samples=num_samples, seed_start=HOLDOUT_SEED_START, image_size=image_size, holdout=True
        )
        self.reference = dict(reference or {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 32}))

    def load(self) -> Iterator[Sample | Skipped]:
        return self.source.iter_samples()

    def score(self, response: str, sample: Sample) -> ItemScore:
        return score_perception(response, sample)

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        if not items:
            return {"accuracy": 0.0}
        by_kind: dict[str, list[float]] = defaultdict(list)
        for sample, score in items:
            by_kind[str(sample.metadata.get("kind"))].append(score.score)
        result = {"accuracy": 100 * sum(s.score for _, s in items) / len(items)}
        result.update({f"accuracy/{k}": 100 * sum(v) / len(v) for k, v in sorted(by_kind.items())})
        return result
