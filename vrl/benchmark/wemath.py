"""We-Math (Qiao et al., 2024): `We-Math/We-Math`, testmini (1,740 questions, 525 problems).

Schema (HF card): ID (problem id, shared by its sub-questions), split, "knowledge concept",
question, option ("A. ...; B. ..."), answer (letter), image_path (Image), key ("2steps_1",
"2steps_2", "2steps_multi", "3steps_1".."3steps_multi"), "question number",
"knowledge concept description".

Scoring follows We-Math's `evaluation/four_dimensional_metrics.py`: the answer is the first
letter (A-H) after the last "Answer" in the response, once `<>:.` are stripped (the prompt asks
for `<Answer>: <<option>>`); without "Answer" we read `\\boxed{}`/`<answer>` instead.
Per problem, the one-step sub-questions and the multi-step question classify it as
Insufficient Knowledge (IK: a step wrong, multi wrong), Inadequate Generalization (IG: all
steps right, multi wrong), Complete Mastery (CM) or Rote Memorization (RM: multi right though
steps are wrong); strict CM needs every step right (loose: one), strict RM any step wrong
(loose: all). Score = (N - 0.5 IG - RM - IK) / N over the N complete problems (525 in
testmini), reported strict and loose. Metrics in percent; RM rate is RM / (CM + RM).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from vrl.answer.extraction import extract_final_answer, extract_option_letter
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

# We-Math's official inference prompt (README, "Evaluation").
PROMPT = (
    "Now, we require you to solve a multiple-choice math question. Please briefly describe your thought "
    "process and provide the final answer(option).\nQuestion: {question}\nOption: {option}\n"
    "Regarding the format, please answer following the template below, and be sure to include two <> "
    "symbols:\n<Thought process>: <<your thought process>> <Answer>: <<your option>>"
)


class WeMath:
    """We-Math testmini with the four-dimensional metrics.

    Args:
        path: hub id or local copy.
        split: "testmini".
        limit: first N items only (the four-dimensional metrics need whole problems).
        judge: unused (rule-based protocol); accepted for a uniform config.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
        prompt_template: `{question}` and `{option}`.
    """

    name = "wemath"

    def __init__(
        self,
        path: str = "We-Math/We-Math",
        split: str = "testmini",
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
        pid, key = str(row["ID"]), str(row["key"])
        image = to_image(row.get("image_path"), row.get("_root"))
        if image is None:
            return Skipped("missing_image", f"{pid}/{key}")
        option = str(row.get("option") or "")
        choices = [c.strip() for c in re.split(r"(?:^|;)\s*[A-H]\.\s*", option) if c.strip()]
        return Sample(
            id=f"wemath/{pid}/{key}",
            images=[image],
            prompt=user_prompt(
                "<image>\n" + self.prompt_template.format(question=row["question"], option=option)
            ),
            answer=str(row["answer"]).strip(),
            answer_type="choice",
            choices=choices,
            category=str(row.get("knowledge concept", "")),
            source="hf:We-Math/We-Math",
            metadata={"problem_id": pid, "key": key, "knowledge_concept": row.get("knowledge concept")},
        )

    def score(self, response: str, sample: Sample) -> ItemScore:
        letter = extract_wemath_answer(response)
        correct = letter is not None and letter == sample.answer
        return ItemScore(letter, correct, float(correct))

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        out = accuracy_metrics(items)
        out.update(four_dimensional(_by_problem(items)))
        return out


def extract_wemath_answer(response: str) -> str | None:
    """The official rule (first A-H letter after the last "Answer", `<>:.` removed), else the
    option letter of `\\boxed{}` / `<answer>`; None if neither exists."""
    if "Answer" in response:
        tail = re.sub(r"[><:.]", "", response.split("Answer")[-1].strip()).strip()
        return tail[0] if tail and tail[0] in "ABCDEFGH" else None
    return extract_option_letter(extract_final_answer(response), 8)


def _by_problem(items: list[tuple[Sample, ItemScore]]) -> dict[str, dict[str, bool]]:
    problems: dict[str, dict[str, bool]] = defaultdict(dict)
    for sample, score in items:
        problems[sample.metadata["problem_id"]][sample.metadata["key"]] = score.correct
    return problems


def four_dimensional(problems: dict[str, dict[str, bool]]) -> dict[str, float]:
    """IK/IG/CM/RM counts over complete 2- and 3-step problems, rates and the final scores."""
    c = dict.fromkeys(("IK", "IG", "CM_strict", "CM_loose", "RM_strict", "RM_loose"), 0)
    one_step, multi = {2: [], 3: []}, {2: [], 3: []}
    n = 0
    for parts in problems.values():
        steps = 3 if any(k.startswith("3steps") for k in parts) else 2
        keys = [f"{steps}steps_{i}" for i in range(1, steps + 1)] + [f"{steps}steps_multi"]
        if any(k not in parts for k in keys):
            continue  # incomplete problem (e.g. a `limit`): the official merge drops it
        n += 1
        singles, m = [parts[k] for k in keys[:-1]], parts[keys[-1]]
        one_step[steps] += singles
        multi[steps].append(m)
        c["IK"] += (not all(singles)) and not m
        c["IG"] += all(singles) and not m
        c["CM_strict"] += all(singles) and m
        c["CM_loose"] += any(singles) and m
        c["RM_strict"] += (not all(singles)) and m
        c["RM_loose"] += (not any(singles)) and m
    if n == 0:
        return {}
    out = {f"wemath/{k}": 100.0 * v / n for k, v in c.items() if not k.startswith("RM")}
    for mode in ("strict", "loose"):
        cm_rm = c[f"CM_{mode}"] + c[f"RM_{mode}"]
        out[f"wemath/RM_{mode}"] = 100.0 * c[f"RM_{mode}"] / cm_rm if cm_rm else 0.0
        out[f"score_{mode}"] = 100.0 * (n - 0.5 * c["IG"] - c[f"RM_{mode}"] - c["IK"]) / n
    singles_all = one_step[2] + one_step[3]
    out["accuracy/steps/S1"] = 100.0 * sum(singles_all) / len(singles_all)
    for steps in (2, 3):
        if multi[steps]:
            out[f"accuracy/steps/S{steps}"] = 100.0 * sum(multi[steps]) / len(multi[steps])
    out["wemath/problems"] = float(n)
    return out
