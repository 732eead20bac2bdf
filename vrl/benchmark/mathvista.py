"""MathVista (Lu et al., 2023): testmini (1,000 items) from `AI4Math/MathVista`.

Schema (HF card): pid, question, image (path), decoded_image (Image), choices (list|None),
unit, precision (float64|None), answer (string), question_type (multi_choice|free_form),
answer_type (text|integer|float|list), metadata{category, context, grade, img_height,
img_width, language, skills, source, split, task}, query (the official prompt with its hint).

Scoring follows `evaluation/calculate_score.py` of lupantech/MathVista after extraction:
- multi_choice: the gold is the option *text*; a letter ("B", "(B)", "C (145°)") maps to its
  option text, otherwise the answer must equal an option's text (or value: "13" is "13°"). The
  official script snaps anything else to the Levenshtein-nearest option; we do not (it credits
  non-answers: "E" would become "Asia"), and an unanswerable response is wrong.
- integer: `str(int(float(x))) == answer` (truncation is the official rule).
- float: equal after rounding both to the item's `precision` decimals.
- list: element-wise equality of the parsed lists.
Metrics: accuracy and the official breakdowns (question/answer type, language, source,
category, task, context, grade, skills), in percent.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from vrl.answer.equivalence import split_items
from vrl.answer.extraction import (
    extract_answer_or_short,
    extract_option_letter,
    match_option_text,
    option_letters,
)
from vrl.answer.numbers import parse_number, round_equal
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{{}}."
BREAKDOWNS = (
    "question_type",
    "answer_type",
    "language",
    "source",
    "category",
    "task",
    "context",
    "grade",
    "skills",
)
_TYPES = {"integer": "integer", "float": "float", "list": "list", "text": "text"}


class MathVista:
    """MathVista testmini/test.

    Args:
        path: hub id or local copy (parquet folder, `save_to_disk` folder, or the GitHub
            release's testmini.json with images/ beside it).
        split: "testmini" (the reported one) or "test" (no public answers).
        limit: first N items only.
        judge: unused (MathVista's official extractor is GPT-4, its scorer is rule-based);
            kept so every benchmark takes the same keys.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
        prompt_template: format string; `{query}` is the official prompt with its hint.
    """

    name = "mathvista"

    def __init__(
        self,
        path: str = "AI4Math/MathVista",
        split: str = "testmini",
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
        prompt_template: str = "{query}\n" + BOXED_INSTRUCTION,
    ):
        self.path, self.split, self.limit, self.judge = path, split, limit, judge
        self.reference = plain(reference, {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 4096}))
        self.prompt_template = prompt_template

    def load(self) -> Iterator[Sample | Skipped]:
        return limited(
            (self.to_sample(r) for r in load_rows(self.path, self.split, option=self.name)), self.limit
        )

    def to_sample(self, row: dict) -> Sample | Skipped:
        pid = str(row.get("pid") or row.get("_key"))
        image = to_image(row.get("decoded_image"), row.get("_root")) or to_image(
            row.get("image"), row.get("_root")
        )
        if image is None:
            return Skipped("missing_image", pid)
        if row.get("answer") in (None, ""):
            return Skipped("missing_answer", pid)
        choices = [str(c) for c in (row.get("choices") or [])]
        meta = dict(row.get("metadata") or {})
        precision = row.get("precision")
        answer = str(row["answer"])
        if row["question_type"] == "multi_choice":
            if answer not in choices:
                return Skipped("answer_not_in_choices", pid)
            gold, answer_type = option_letters(len(choices))[choices.index(answer)], "choice"
        else:
            gold, answer_type = answer, _TYPES.get(row["answer_type"], "text")
        query = row.get("query") or row["question"]
        return Sample(
            id=f"mathvista/{pid}",
            images=[image],
            prompt=user_prompt(
                "<image>\n" + self.prompt_template.format(query=query, question=row["question"])
            ),
            answer=gold,
            answer_type=answer_type,
            choices=choices,
            category=str(meta.get("category", "")),
            source="hf:AI4Math/MathVista",
            metadata={
                "pid": pid,
                "answer_text": answer,
                "question_type": row["question_type"],
                "answer_type": row["answer_type"],
                "precision": None if precision is None else int(precision),
                "unit": row.get("unit"),
                **{
                    k: meta.get(k)
                    for k in ("language", "source", "task", "context", "grade", "skills")
                    if k in meta
                },
            },
        )

    def score(self, response: str, sample: Sample) -> ItemScore:
        extracted = extract_answer_or_short(response)
        correct = extracted is not None and self.is_correct(extracted, sample)
        return ItemScore(extracted, correct, float(correct))

    def is_correct(self, extracted: str, sample: Sample) -> bool:
        """Whether an already extracted answer is right (the official normalise-and-compare step)."""
        meta = sample.metadata
        if meta["question_type"] == "multi_choice":
            letter = extract_option_letter(extracted, len(sample.choices)) or match_option_text(
                extracted, sample.choices
            )
            return letter is not None and sample.choices[ord(letter) - 65] == meta["answer_text"]
        if meta["answer_type"] == "integer":
            value = parse_number(extracted)
            return value is not None and str(int(value)) == meta["answer_text"]
        if meta["answer_type"] == "float":
            return round_equal(extracted, meta["answer_text"], meta["precision"] or 0)
        if meta["answer_type"] == "list":
            return _as_list(extracted) == _as_list(meta["answer_text"])
        return extracted.strip() == meta["answer_text"].strip()

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        return accuracy_metrics(items, BREAKDOWNS)


def _as_list(s: str) -> list[float | str]:
    try:
        value = ast.literal_eval(s.strip())
        items = [str(v) for v in value] if isinstance(value, (list, tuple)) else split_items(s)
    except (ValueError, SyntaxError):
        items = split_items(s)
    return [v if (n := parse_number(v)) is None else n for v in items]
