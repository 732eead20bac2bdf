"""MATH-Vision (Wang et al., 2024): `MathLLMs/MathVision`, test (3,040) and testmini (304).

Schema (HF card): id, question, options (list of strings, [] for free-form), image (path),
decoded_image (Image), answer (a letter when options exist, else a value), solution,
level (int 1-5), subject.

Scoring follows the official evaluation (mathllm/MATH-V `evaluation/utils.py`, `is_equal`):
for multiple choice, the prediction is right if it names the gold letter or equals the gold
option's text (or value); for free-form, if it equals the gold as a string, as a number
(both rounded to 2 decimals, the precision the official eval prints and compares at), or
symbolically (math-verify, replacing the official latex2sympy). Unanswerable: wrong.
Metrics: accuracy, by subject and level (percent).
"""

from __future__ import annotations

from collections.abc import Iterator

from vrl.answer.equivalence import symbolic_equal
from vrl.answer.extraction import (
    extract_answer_or_short,
    extract_option_letter,
    matching_options,
    option_letters,
)
from vrl.answer.numbers import normalize_text, parse_number, round_equal
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{{}}."


class MathVision:
    """MATH-Vision test or testmini.

    Args:
        path: hub id or local copy.
        split: "test" (VL-Rethinker reports it) or "testmini".
        limit: first N items only.
        judge: unused (the official scorer is rule-based); accepted for a uniform config.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
        prompt_template: `{question}` and `{options}` ("(A) ...\\n(B) ..." or "").
    """

    name = "mathvision"

    def __init__(
        self,
        path: str = "MathLLMs/MathVision",
        split: str = "test",
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
        prompt_template: str = "{question}\n{options}" + BOXED_INSTRUCTION,
    ):
        self.path, self.split, self.limit, self.judge = path, split, limit, judge
        self.name = "mathvision" if split == "test" else f"mathvision_{split}"
        self.reference = plain(reference, {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 4096}))
        self.prompt_template = prompt_template

    def load(self) -> Iterator[Sample | Skipped]:
        return limited(
            (self.to_sample(r) for r in load_rows(self.path, self.split, option=self.name)), self.limit
        )

    def to_sample(self, row: dict) -> Sample | Skipped:
        rid = str(row["id"])
        image = to_image(row.get("decoded_image"), row.get("_root")) or to_image(
            row.get("image"), row.get("_root")
        )
        if image is None:
            return Skipped("missing_image", rid)
        options = [str(o) for o in (row.get("options") or [])]
        answer = str(row["answer"]).strip()
        if options and answer not in option_letters(len(options)):
            return Skipped("answer_not_a_letter", rid, answer)
        listed = "".join(f"({letter}) {o}\n" for letter, o in zip(option_letters(len(options)), options))
        question = str(row["question"]).replace("<image1>", "").strip()
        return Sample(
            id=f"mathvision/{rid}",
            images=[image],
            prompt=user_prompt("<image>\n" + self.prompt_template.format(question=question, options=listed)),
            answer=answer,
            answer_type="choice" if options else "expression",
            choices=options,
            category=str(row.get("subject", "")),
            source="hf:MathLLMs/MathVision",
            metadata={"level": row.get("level"), "subject": row.get("subject")},
        )

    def score(self, response: str, sample: Sample) -> ItemScore:
        extracted = extract_answer_or_short(response)
        correct = extracted is not None and self._correct(extracted, sample)
        return ItemScore(extracted, correct, float(correct))

    def _correct(self, extracted: str, sample: Sample) -> bool:
        if sample.choices:
            letter = extract_option_letter(extracted, len(sample.choices))
            if letter is not None:
                return letter == sample.answer
            text = sample.choices[ord(sample.answer) - 65]
            return sample.answer in matching_options(extracted, sample.choices) or value_equal(
                extracted, text
            )
        return value_equal(extracted, sample.answer)

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        return accuracy_metrics(items, ("subject", "level"))


def value_equal(pred: str, gold: str) -> bool:
    """MATH-V `is_equal`: same normalised string, same number at 2 decimals, or same math."""
    if normalize_text(pred) == normalize_text(gold):
        return True
    if parse_number(pred) is not None and parse_number(gold) is not None:
        return round_equal(pred, gold, 2)
    return symbolic_equal(pred, gold)
