"""`procedural_holdout`: held-out seeds of vrl's own procedural generators (never seen in training)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from vrl.answer.equivalence import is_equivalent
from vrl.answer.extraction import extract_final_answer
from vrl.benchmark.base import ItemScore, plain
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides


class ProceduralHoldout:
    """Problems from seeds >= HOLDOUT_SEED_START; accuracy overall, per family, and chance.

    Args:
        families: task families (None = all), as in `ProceduralSource`.
        num_samples: items to evaluate.
        image_size: pixels per side; match the training data.
        reference: paper numbers (none for a procedural set).
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
    Metrics are percentages, like every benchmark's: accuracy, accuracy/<family>, chance, chance/<family>.
    """

    name = "procedural_holdout"

    def __init__(
        self,
        families: list[str] | None = None,
        num_samples: int = 256,
        image_size: int = 56,
        reference: dict[str, dict[str, float]] | None = None,
        sampling: dict | None = None,
    ) -> None:
        from vrl.data.procedural import HOLDOUT_SEED_START, ProceduralSource

        self.source = ProceduralSource(
            families=families,
            num_samples=num_samples,
            seed_start=HOLDOUT_SEED_START,
            image_size=image_size,
            holdout=True,
        )
        self.reference = dict(reference or {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 16}))

    def load(self) -> Iterator[Sample | Skipped]:
        return self.source.iter_samples()

    def score(self, response: str, sample: Sample) -> ItemScore:
        extracted = extract_final_answer(response)
        correct = extracted is not None and is_equivalent(extracted, sample.answer, sample.answer_type)
        return ItemScore(extracted=extracted, correct=correct, score=float(correct))

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        from vrl.data.procedural import chance_accuracy

        if not items:
            return {"accuracy": 0.0}
        by_family: dict[str, list[float]] = defaultdict(list)
        for sample, score in items:
            by_family[sample.category].append(score.score)
        result = {"accuracy": 100 * sum(s.score for _, s in items) / len(items)}
        result["chance"] = 100 * sum(chance_accuracy(s.category) for s, _ in items) / len(items)
        for family, scores in sorted(by_family.items()):
            result[f"accuracy/{family}"] = 100 * sum(scores) / len(scores)
            result[f"chance/{family}"] = 100 * chance_accuracy(family)
        return result
