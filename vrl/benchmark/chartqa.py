"""ChartQA (Masry et al., 2022): `HuggingFaceM4/ChartQA`, test (2,500: 1,250 human + 1,250
machine-generated questions).

Schema (HF card): image (Image), query, label (list of strings; the first is the answer),
human_or_machine (ClassLabel: 0 human, 1 machine).

Scoring is ChartQA's relaxed accuracy as implemented in pix2struct (`relaxed_correctness`):
if both sides parse as floats (a trailing "%" divides by 100) and the gold is non-zero, the
relative error must be at most 5%; otherwise the strings must match case-insensitively. The
extracted prediction is tidied first ("$1,234." -> "1234"). Best over the gold labels.
Metrics: accuracy, by human/machine split (percent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vrl.answer.extraction import extract_answer_or_short
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

PROMPT = (
    "{query}\nThink step by step, then give the final answer as a single word or number within \\boxed{{}}."
)
SPLITS = {0: "human", 1: "machine", "0": "human", "1": "machine"}


class ChartQA:
    """ChartQA test (or val).

    Args:
        path: hub id or local copy.
        split: "test" or "val".
        limit: first N items only.
        judge: unused (rule-based protocol); accepted for a uniform config.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
        prompt_template: `{query}`.
        tolerance: relative tolerance of relaxed accuracy (0.05 officially).
    """

    name = "chartqa"

    def __init__(
        self,
        path: str = "HuggingFaceM4/ChartQA",
        split: str = "test",
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
        prompt_template: str = PROMPT,
        tolerance: float = 0.05,
    ):
        self.path, self.split, self.limit, self.judge = path, split, limit, judge
        self.reference = plain(reference, {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 2048}))
        self.prompt_template = prompt_template
        self.tolerance = tolerance

    def load(self) -> Iterator[Sample | Skipped]:
        rows = enumerate(load_rows(self.path, self.split, option=self.name))
        return limited((self.to_sample(r, i) for i, r in rows), self.limit)

    def to_sample(self, row: dict, index: int) -> Sample | Skipped:
        image = to_image(row.get("image"), row.get("_root"))
        if image is None:
            return Skipped("missing_image", str(index))
        labels = row.get("label") or []
        labels = [labels] if isinstance(labels, str) else [str(x) for x in labels]
        if not labels:
            return Skipped("missing_answer", str(index))
        origin = SPLITS.get(row.get("human_or_machine"), str(row.get("human_or_machine")))
        return Sample(
            id=f"chartqa/{self.split}/{index}",
            images=[image],
            prompt=user_prompt("<image>\n" + self.prompt_template.format(query=row["query"])),
            answer=labels[0],
            answer_type="text",
            category=origin,
            source="hf:HuggingFaceM4/ChartQA",
            metadata={"labels": labels, "human_or_machine": origin},
        )

    def score(self, response: str, sample: Sample) -> ItemScore:
        extracted = extract_answer_or_short(response)
        pred = tidy(extracted) if extracted is not None else None
        correct = pred is not None and any(
            relaxed_correctness(gold, pred, self.tolerance) for gold in sample.metadata["labels"]
        )
        return ItemScore(extracted, correct, float(correct))

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        return accuracy_metrics(items, ("human_or_machine",))


def tidy(s: str) -> str:
    """Strip what a model wraps around a chart value: `\\text{}`, `$`, thousands commas, a
    final period."""
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s).replace("\\%", "%").replace("$", "").strip().rstrip(".")
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?", s):
        s = s.replace(",", "")
    return s.strip()


def _to_float(text: str) -> float | None:
    try:
        return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def relaxed_correctness(target: str, prediction: str, max_relative_change: float = 0.05) -> bool:
    """pix2struct's ChartQA metric: 5% relative error for numbers (non-zero gold), else exact
    case-insensitive match."""
    p, t = _to_float(prediction), _to_float(target)
    if p is not None and t:
        return abs(p - t) / abs(t) <= max_relative_change
    return prediction.lower() == target.lower()
