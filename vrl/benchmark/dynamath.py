"""DynaMath (Zou et al., 2024): `DynaMath/DynaMath_Sample`, 501 seed questions x 10 variants
(splits sample_variant1 .. sample_variant10).

Schema (HF card): id (the seed question, shared across variants), question, image (path),
decoded_image (Image), ground_truth, answer_type ("multiple choice" | "float" | "free form"),
subject, knowledge_level.

Scoring follows DynaMath's evaluation: the model answers in JSON with a "short answer" key
(we also accept `\\boxed{}` / "Answer:"); multiple choice compares the option letter, float
answers are right within an absolute error of 1e-3, free-form answers compare as normalised
text (numbers as numbers). Unanswerable: wrong.
Metrics: average accuracy over every loaded variant, worst-case accuracy (a seed question
counts only if all its loaded variants are right), by subject and knowledge level (percent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from vrl.answer.extraction import extract_answer_or_short, extract_json_field, extract_option_letter
from vrl.answer.numbers import normalize_text, numbers_equal, parse_number
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

VARIANTS = [f"sample_variant{i}" for i in range(1, 11)]
# Paraphrase of DynaMath's JSON-answer prompt (solution + short answer) with its per-type hints.
PROMPT = (
    '{question}\n\nAnswer the question above. Reply in JSON with two keys: "solution" (your detailed '
    'step-by-step reasoning) and "short answer" (the final answer only). {hint}\n'
    'Example: {{"solution": "[step-by-step explanation]", "short answer": "[concise answer]"}}'
)
HINTS = {
    "multiple choice": "The short answer is the letter of the correct option (A, B, C, D or E).",
    "float": "The short answer is a floating-point number with three decimal places.",
    "free form": "The short answer is a concise value, word or expression.",
}


class DynaMath:
    """DynaMath variants.

    Args:
        path: hub id or local copy.
        split: one variant split or a list of them (default: all ten, for worst-case accuracy).
        limit: first N items only (counted over all variants).
        judge: unused (rule-based protocol); accepted for a uniform config.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
        prompt_template: `{question}` and `{hint}` (the per-answer-type instruction).
    """

    name = "dynamath"

    def __init__(
        self,
        path: str = "DynaMath/DynaMath_Sample",
        split: str | list[str] | None = None,
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
        prompt_template: str = PROMPT,
    ):
        self.splits = [split] if isinstance(split, str) else list(split or VARIANTS)
        self.path, self.limit, self.judge = path, limit, judge
        self.reference = plain(reference, {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 4096}))
        self.prompt_template = prompt_template

    def load(self) -> Iterator[Sample | Skipped]:
        rows = ((s, r) for s in self.splits for r in load_rows(self.path, s, option=self.name))
        return limited((self.to_sample(r, s) for s, r in rows), self.limit)

    def to_sample(self, row: dict, variant: str) -> Sample | Skipped:
        qid = str(row["id"])
        image = to_image(row.get("decoded_image"), row.get("_root")) or to_image(
            row.get("image"), row.get("_root")
        )
        if image is None:
            return Skipped("missing_image", f"{variant}/{qid}")
        atype = str(row["answer_type"])
        text = self.prompt_template.format(
            question=row["question"], hint=HINTS.get(atype, HINTS["free form"])
        )
        return Sample(
            id=f"dynamath/{variant}/{qid}",
            images=[image],
            prompt=user_prompt("<image>\n" + text),
            answer=str(row["ground_truth"]).strip(),
            answer_type={"multiple choice": "choice", "float": "float"}.get(atype, "text"),
            category=str(row.get("subject", "")),
            source="hf:DynaMath/DynaMath_Sample",
            metadata={
                "seed": qid,
                "variant": variant,
                "dynamath_type": atype,
                "subject": row.get("subject"),
                "knowledge_level": row.get("knowledge_level"),
            },
        )

    def score(self, response: str, sample: Sample) -> ItemScore:
        extracted = extract_json_field(response, "short answer") or extract_answer_or_short(response)
        correct = extracted is not None and _correct(extracted, sample)
        return ItemScore(extracted, correct, float(correct))

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        out = accuracy_metrics(items, ("subject", "knowledge_level"))
        by_seed: dict[str, list[bool]] = defaultdict(list)
        for sample, score in items:
            by_seed[sample.metadata["seed"]].append(score.correct)
        if by_seed:
            out["worst_case_accuracy"] = 100.0 * sum(all(v) for v in by_seed.values()) / len(by_seed)
        return out


def _correct(extracted: str, sample: Sample) -> bool:
    kind = sample.metadata["dynamath_type"]
    if kind == "multiple choice":
        return extract_option_letter(extracted, 5) == sample.answer.upper()
    if kind == "float":
        # DynaMath's rule: absolute error at most 1e-3.
        return numbers_equal(extracted, sample.answer, abs_tol=1e-3, rel_tol=0.0)
    if parse_number(extracted) is not None and parse_number(sample.answer) is not None:
        return numbers_equal(extracted, sample.answer)
    return normalize_text(extracted) == normalize_text(sample.answer)
