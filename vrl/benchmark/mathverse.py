"""MathVerse (Zhang et al., 2024): testmini, 788 problems x 5 visual versions, `AI4Math/MathVerse`.

Schema (HF parquet, config "testmini"): sample_index, problem_index, problem_version ("Text
Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only"), question,
image (Image), answer, question_type ("multi-choice" | "free-form"), metadata{split, source,
subject, subfield}, query_wo, query_cot (the official prompts without / with CoT),
question_for_eval (the question text the judge sees).

Official scoring (ZrrSkywalker/MathVerse, evaluation/): GPT-4 extracts the answer, then GPT-4
judges consistency with the gold ("0.5m and 50cm" agree; a multiple-choice answer may give the
letter or the option's content). Here the default is the rule path, labelled "rule": extract
the answer, then an option letter or the exact text of an inline option (choices are parsed
from the question) for multi-choice, and number/math-verify equivalence for free-form. Pass a
`judge` to use a model with the official prompt (paraphrased); judge failures fall back to the
rule path, labelled "rule_fallback".
Metrics: accuracy, by problem_version, subject and subfield (percent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vrl.answer.equivalence import is_equivalent, option_equal
from vrl.answer.extraction import extract_answer_or_short
from vrl.answer.judge import JudgeRequest, is_rule
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{{}}."
VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")
_INLINE_CHOICE = re.compile(
    r"(?:^|\n|\s)\(?([A-H])\)?\s*[:.：]\s*(.+?)(?=(?:\n|\s)\(?[A-H]\)?\s*[:.：]|\n\n|$)", re.DOTALL
)


class MathVerse:
    """MathVerse testmini, one or more problem versions.

    Args:
        path: hub id or local copy.
        split: "testmini".
        name: hub config ("testmini"; "testmini_text_only" for the text-only version).
        versions: problem versions to keep (default: the five visual versions).
        limit: first N items only.
        judge: None (rule path) or a judge (`vrl.answer.judge.*`).
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
        prompt_template: `{query_cot}` is the official CoT prompt; `{question}` the raw text.
    """

    name = "mathverse"

    def __init__(
        self,
        path: str = "AI4Math/MathVerse",
        split: str = "testmini",
        name: str | None = "testmini",
        versions: list[str] | None = None,
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
        prompt_template: str = "{query_cot}\n" + BOXED_INSTRUCTION,
    ):
        self.path, self.split, self.config, self.limit, self.judge = path, split, name, limit, judge
        self.versions = list(versions or VERSIONS)
        self.reference = plain(reference, {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 4096}))
        self.prompt_template = prompt_template

    def load(self) -> Iterator[Sample | Skipped]:
        rows = load_rows(self.path, self.split, name=self.config, option=self.name)
        samples = (self.to_sample(r) for r in rows if r.get("problem_version") in self.versions)
        return limited(samples, self.limit)

    def to_sample(self, row: dict) -> Sample | Skipped:
        sid = str(row["sample_index"])
        image = to_image(row.get("image"), row.get("_root"))
        if image is None and row["problem_version"] != "Text Only":
            return Skipped("missing_image", sid)
        meta = dict(row.get("metadata") or {})
        choices = parse_inline_choices(row["question"]) if row["question_type"] == "multi-choice" else []
        text = self.prompt_template.format(
            query_cot=row.get("query_cot") or row["question"], question=row["question"]
        )
        return Sample(
            id=f"mathverse/{sid}",
            images=[image] if image is not None else [],
            prompt=user_prompt(("<image>\n" if image is not None else "") + text),
            answer=str(row["answer"]).strip(),
            answer_type="choice" if row["question_type"] == "multi-choice" else "expression",
            choices=choices,
            category=str(meta.get("subject", "")),
            source="hf:AI4Math/MathVerse",
            metadata={
                "problem_index": str(row.get("problem_index")),
                "problem_version": row["problem_version"],
                "question_type": row["question_type"],
                "question_for_eval": row.get("question_for_eval") or row["question"],
                "subject": meta.get("subject"),
                "subfield": meta.get("subfield"),
            },
        )

    def rule_correct(self, extracted: str | None, sample: Sample) -> bool:
        if extracted is None:
            return False
        if sample.answer_type == "choice":
            if sample.choices:
                return option_equal(extracted, sample.answer, sample.choices)
            return is_equivalent(extracted, sample.answer, "choice")
        return is_equivalent(extracted, sample.answer, "expression")

    def score(self, response: str, sample: Sample) -> ItemScore:
        return self.score_many([response], [sample])[0]

    def score_many(self, responses: list[str], samples: list[Sample]) -> list[ItemScore]:
        extracted = [extract_answer_or_short(r) for r in responses]
        rule = [self.rule_correct(e, s) for e, s in zip(extracted, samples)]
        if is_rule(self.judge):
            return [ItemScore(e, c, float(c)) for e, c in zip(extracted, rule)]
        # An unanswerable response is wrong without asking the judge (deterministic).
        ask = [i for i, e in enumerate(extracted) if e is not None]
        requests = [
            JudgeRequest(samples[i].metadata["question_for_eval"], samples[i].answer, extracted[i])
            for i in ask
        ]
        verdicts = dict(zip(ask, self.judge.judge_many(requests)))
        out = []
        for i, (e, c) in enumerate(zip(extracted, rule)):
            v = verdicts.get(i)
            if e is None:
                out.append(ItemScore(None, False, 0.0, "rule"))
            elif v is None:
                out.append(ItemScore(e, c, float(c), "rule_fallback"))
            else:
                out.append(ItemScore(e, v, float(v), self.judge.name, {"rule_correct": c}))
        return out

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        return accuracy_metrics(items, ("problem_version", "subject", "subfield"))


def parse_inline_choices(question: str) -> list[str]:
    """Option texts written inside a question ("Choices:\\nA:2\\nB:4" or "A. 2 B. 4"), in
    letter order; [] if the letters are not a contiguous A.. run."""
    part = question.split("Choices:")[-1] if "Choices:" in question else question
    found = _INLINE_CHOICE.findall(part)
    letters = [f[0] for f in found]
    if not letters or letters != [chr(65 + i) for i in range(len(letters))]:
        return []
    return [f[1].strip() for f in found]
