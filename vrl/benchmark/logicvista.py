"""LogicVista (Xiao et al., 2024): 448 visual logical-reasoning questions.

Schema (official release, Yijia-Xiao/LogicVista `data/dataset.json`, a dict keyed by id
"v1_<n>"): imagename (file in data/images/), question, answer (option labels: "C", "A, C",
or digits "3" when options are numbered), reasoning, skill (list: inductive, deductive,
numerical, spatial, mechanical), capability (list: diagram, ocr), imagesource, sourcelink.
Hub copies with an `image` column (and an `id` column) load too.

Scoring: the answer is a *set* of labels; the response's labels (from `\\boxed{}`,
"Answer:" or a short reply) must equal the gold set exactly ("A, C" == "C and A"; "A" alone
is wrong for "A, C"). A reply naming anything that is not a label is wrong.
Metrics: accuracy, by skill and capability (percent).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vrl.answer.equivalence import letter_set_equal
from vrl.answer.extraction import extract_answer_or_short
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

PROMPT = (
    "{question}\nSolve the problem step by step. Then give the label(s) of the correct choice(s) "
    "within \\boxed{{}}, for example \\boxed{{B}} or \\boxed{{A, C}} (use the numbers if the options are numbered)."
)
LETTERS, DIGITS = "ABCDEFGHI", "123456789"


class LogicVista:
    """LogicVista.

    Args:
        path: the official `data/` folder (dataset.json + images/) or its dataset.json, a
            parquet/json copy with an image column, or a hub id.
        split: split name for hub copies ("test"); ignored by the official JSON.
        limit: first N items only.
        judge: unused (rule-based); accepted for a uniform config.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
        prompt_template: `{question}`.
    """

    name = "logicvista"

    def __init__(
        self,
        path: str = "./data/LogicVista/data",
        split: str = "test",
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
        prompt_template: str = PROMPT,
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
        rid = str(row.get("id") or row.get("_key"))
        root = row.get("_root")
        image = to_image(row.get("image"), root)
        if image is None and row.get("imagename"):
            candidates = [
                Path(root or ".") / row["imagename"],
                Path(root or ".") / "images" / row["imagename"],
            ]
            found = next((p for p in candidates if p.exists()), None)
            image = to_image(str(found)) if found else None
        if image is None:
            return Skipped("missing_image", rid)
        answer = str(row["answer"]).strip()
        labels = DIGITS if answer[:1].isdigit() else LETTERS
        return Sample(
            id=f"logicvista/{rid}",
            images=[image],
            prompt=user_prompt("<image>\n" + self.prompt_template.format(question=row["question"])),
            answer=answer,
            answer_type="choice",
            category=",".join(_as_list(row.get("skill"))),
            source="github:Yijia-Xiao/LogicVista",
            metadata={
                "labels": labels,
                "skill": _as_list(row.get("skill")),
                "capability": _as_list(row.get("capability")),
            },
        )

    def score(self, response: str, sample: Sample) -> ItemScore:
        extracted = extract_answer_or_short(response)
        correct = extracted is not None and letter_set_equal(
            extracted, sample.answer, sample.metadata["labels"]
        )
        return ItemScore(extracted, correct, float(correct))

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        return accuracy_metrics(items, ("skill", "capability"))


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]
