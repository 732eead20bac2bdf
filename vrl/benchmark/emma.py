"""EMMA (Hao et al., 2025): `luckychao/EMMA`, configs Math, Physics, Chemistry, Coding; split test.

Schema (HF card): pid, question, options (list|None), answer, image_1..image_5 (Image|None),
solution, subject, task, category, source, type ("Multiple Choice" | "Open-ended"), context.
`<image_k>` in the question marks where image_k goes.

The official pipeline (hychaochao/EMMA) asks for the answer in one `\\boxed{}` and scores the
boxed letter for multiple choice and a rule-based equivalence for open answers. Here: the
option letter (or the exact option text) must equal the gold letter; open answers compare by
number, then math-verify (never for word answers), then normalised text. Unanswerable: wrong.
Metrics: accuracy, by subject and category (percent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vrl.answer.equivalence import is_equivalent, option_equal
from vrl.answer.extraction import extract_answer_or_short, option_letters
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

SUBJECTS = ("Math", "Physics", "Chemistry", "Coding")
# EMMA's CoT instructions (boxed answer, step by step).
MC_INSTRUCTION = (
    'Answer with the option\'s letter from the given choices and put the letter in one "\\boxed{}". '
    "Please solve the problem step by step."
)
OPEN_INSTRUCTION = (
    'Answer the question using a single word or phrase and put the answer in one "\\boxed{}". '
    "Please solve the problem step by step."
)
_IMAGE_TAG = re.compile(r"<image_(\d+)>")


class EMMA:
    """EMMA, all four subjects by default.

    Args:
        path: hub id or local copy (a folder with one sub-folder per subject, or one file).
        split: "test".
        subjects: configs to load.
        limit: first N items only.
        judge: unused (rule-based protocol); accepted for a uniform config.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
    """

    name = "emma"

    def __init__(
        self,
        path: str = "luckychao/EMMA",
        split: str = "test",
        subjects: list[str] | None = None,
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
    ):
        self.path, self.split, self.limit, self.judge = path, split, limit, judge
        self.subjects = list(subjects or SUBJECTS)
        self.reference = plain(reference, {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 4096}))

    def load(self) -> Iterator[Sample | Skipped]:
        rows = (
            row for s in self.subjects for row in load_rows(self.path, self.split, name=s, option=self.name)
        )
        return limited((self.to_sample(r) for r in rows), self.limit)

    def to_sample(self, row: dict) -> Sample | Skipped:
        pid = str(row["pid"])
        options = [str(o) for o in (row.get("options") or [])]
        mc = row.get("type") == "Multiple Choice" or bool(options)
        question = str(row["question"])
        order = [int(k) for k in _IMAGE_TAG.findall(question)]
        present = [k for k in range(1, 6) if row.get(f"image_{k}") is not None]
        if not present or any(k not in present for k in order):
            return Skipped("missing_image", pid)
        unmentioned = [k for k in present if k not in order]
        images = [to_image(row[f"image_{k}"], row.get("_root")) for k in unmentioned + order]
        text = "<image>" * len(unmentioned) + _IMAGE_TAG.sub("<image>", question)
        if row.get("context"):
            text = f"{row['context']}\n\n{text}"
        if mc:
            listed = "\n".join(f"({letter}) {o}" for letter, o in zip(option_letters(len(options)), options))
            text += f"\n\nOptions:\n{listed}\n\n{MC_INSTRUCTION}"
        else:
            text += f"\n\n{OPEN_INSTRUCTION}"
        return Sample(
            id=f"emma/{pid}",
            images=images,
            prompt=user_prompt(text),
            answer=str(row["answer"]).strip(),
            answer_type="choice" if mc else "expression",
            choices=options,
            category=str(row.get("subject", "")),
            source="hf:luckychao/EMMA",
            metadata={
                "subject": row.get("subject"),
                "category": row.get("category"),
                "task": row.get("task"),
            },
        )

    def score(self, response: str, sample: Sample) -> ItemScore:
        extracted = extract_answer_or_short(response)
        if extracted is None:
            correct = False
        elif sample.answer_type == "choice":
            correct = option_equal(extracted, sample.answer, sample.choices)
        else:
            correct = is_equivalent(extracted, sample.answer, "expression")
        return ItemScore(extracted, correct, float(correct))

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        return accuracy_metrics(items, ("subject", "category"))
