"""MMMU (validation, `MMMU/MMMU`, one config per subject) and MMMU-Pro (`MMMU/MMMU_Pro`,
"standard (10 options)" and "vision", split test).

Schemas (HF cards): MMMU: id ("validation_<Subject>_<n>"), question, options (a Python-list
string), explanation, image_1..image_7 (Image|None), img_type, answer (letter, or text for
open questions), topic_difficulty, question_type ("multiple-choice" | "open"), subfield.
MMMU-Pro standard: id, question, options (list string), explanation, image_1..7, img_type,
answer, topic_difficulty, subject. MMMU-Pro vision: id, image (the question as a screenshot),
options, answer, subject. `<image k>` in the text marks where image_k goes.

Scoring reimplements MMMU's `eval/eval_utils.py` (parse_multi_choice_response,
parse_open_response, eval_open) with two changes: when no option can be found the official
parser picks a random letter, and when an answer names several options ("(B), (C), and (D)")
it takes the last one; here both items are wrong, deterministically. An explicit answer
("Answer: B", `\\boxed{B}`, the MMMU-Pro CoT format) is read first, then a one-line reply as a
whole ("A. James Irvine", MMMU-Pro's direct format); the official free-text parse is the
fallback. Metrics: accuracy, by subject, subfield / difficulty (percent).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from vrl.answer.extraction import (
    extract_final_answer,
    extract_option_letter,
    match_option_text,
    names_several_options,
    option_letters,
)
from vrl.benchmark.base import ItemScore, accuracy_metrics, limited, load_rows, plain, to_image, user_prompt
from vrl.data.schema import Sample, Skipped
from vrl.policy.sampling import check_overrides

SUBJECTS = (
    "Accounting Agriculture Architecture_and_Engineering Art Art_Theory Basic_Medical_Science Biology "
    "Chemistry Clinical_Medicine Computer_Science Design Diagnostics_and_Laboratory_Medicine Economics "
    "Electronics Energy_and_Power Finance Geography History Literature Manage Marketing Materials Math "
    "Mechanical_Engineering Music Pharmacy Physics Psychology Public_Health Sociology"
).split()
# MMMU-Pro's CoT prompts (mmmu-pro/prompts.yaml); the open-question one mirrors them.
COT_STANDARD = (
    "Answer the preceding multiple choice question. The last line of your response should be of the "
    "following format: 'Answer: $LETTER' (without quotes) where LETTER is one of options. "
    "Think step by step before answering."
)
COT_VISION = (
    "Write out the multiple-choice question in the image and then solve it. The last line of your "
    "response should be of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one "
    "of options. Think step by step before answering."
)
COT_OPEN = (
    "Answer the preceding question. The last line of your response should be of the following format: "
    "'Answer: $ANSWER' (without quotes). Think step by step before answering."
)
_IMAGE_TAG = re.compile(r"<image (\d+)>")


class MMMU:
    """MMMU validation (`variant: val`) or MMMU-Pro (`variant: pro_standard` / `pro_vision`).

    Args:
        path: hub id or local copy (a folder with one sub-folder per config, or one file).
        variant: "val" (MMMU), "pro_standard" (10 options) or "pro_vision".
        split: "validation" for MMMU, "test" for MMMU-Pro.
        subjects: MMMU subjects (hub configs) to load; default all 30.
        limit: first N items only.
        judge: unused (rule-based protocol); accepted for a uniform config.
        reference: paper numbers, model -> metric -> value.
        sampling: overrides of the eval's sampling for this benchmark (`vrl.policy.sampling`):
            its answer length by default (the eval stage decodes greedily).
    """

    def __init__(
        self,
        path: str = "MMMU/MMMU",
        variant: str = "val",
        split: str = "validation",
        subjects: list[str] | None = None,
        limit: int | None = None,
        judge=None,
        reference: dict | None = None,
        sampling: dict | None = None,
    ):
        if variant not in ("val", "pro_standard", "pro_vision"):
            raise ValueError(
                f"benchmark mmmu: variant must be val, pro_standard or pro_vision, got {variant!r}"
            )
        self.path, self.variant, self.split, self.limit, self.judge = path, variant, split, limit, judge
        self.subjects = list(subjects or SUBJECTS)
        self.name = {"val": "mmmu", "pro_standard": "mmmu_pro_standard", "pro_vision": "mmmu_pro_vision"}[
            variant
        ]
        self.reference = plain(reference, {})
        self.sampling = check_overrides("sampling", plain(sampling, {"max_new_tokens": 4096}))

    def _rows(self) -> Iterator[dict]:
        if self.variant != "val":
            config = "vision" if self.variant == "pro_vision" else "standard (10 options)"
            yield from load_rows(self.path, self.split, name=config, option=self.name)
            return
        local = Path(self.path).expanduser()
        if local.exists() and not any((local / s).is_dir() for s in self.subjects):
            yield from load_rows(self.path, self.split, option=self.name)  # one file, all subjects
            return
        for subject in self.subjects:
            yield from load_rows(self.path, self.split, name=subject, option=self.name)

    def load(self) -> Iterator[Sample | Skipped]:
        return limited((self.to_sample(r) for r in self._rows()), self.limit)

    def to_sample(self, row: dict) -> Sample | Skipped:
        rid = str(row["id"])
        options = _options(row.get("options"))
        root = row.get("_root")
        qtype = row.get("question_type", "multiple-choice")
        if self.variant == "pro_vision":
            image = to_image(row.get("image"), root)
            if image is None:
                return Skipped("missing_image", rid)
            images, text = [image], "<image>\n" + COT_VISION
        else:
            listed = "\n".join(f"{letter}. {o}" for letter, o in zip(option_letters(len(options)), options))
            body = f"{row['question']}\n\n{listed}" if qtype == "multiple-choice" else str(row["question"])
            images, text = _place_images(body, row, root)
            if images is None:
                return Skipped("missing_image", rid)
            text += "\n\n" + (COT_STANDARD if qtype == "multiple-choice" else COT_OPEN)
        subject = row.get("subject") or re.sub(r"^(?:validation|dev|test)_|_\d+$", "", rid)
        return Sample(
            id=f"{self.name}/{rid}",
            images=images,
            prompt=user_prompt(text),
            answer=str(row["answer"]).strip(),
            answer_type="choice" if qtype == "multiple-choice" else "text",
            choices=options,
            category=subject,
            source=f"hf:{self.path}",
            metadata={
                "question_type": qtype,
                "subject": subject,
                "subfield": row.get("subfield"),
                "topic_difficulty": row.get("topic_difficulty"),
            },
        )

    def score(self, response: str, sample: Sample) -> ItemScore:
        explicit = extract_final_answer(response)
        if sample.metadata["question_type"] == "multiple-choice":
            n = len(sample.choices)
            index2ans = dict(zip(option_letters(n), sample.choices))
            one_line = response.strip() if "\n" not in response.strip() else None
            letter = None
            if explicit is not None and names_several_options(explicit, n):
                # A hedge ("(B), (C), and (D)") is a wrong answer, not a missing one: the official
                # parser would credit its last letter.
                return ItemScore(None, False, 0.0, details={"explicit": explicit, "hedge": True})
            if explicit is not None:
                letter = extract_option_letter(explicit, n) or match_option_text(explicit, sample.choices)
                letter = letter or parse_multi_choice_response(explicit, index2ans)
            if letter is None and one_line:  # a one-line reply is its own answer: "A. James Irvine"
                letter = extract_option_letter(one_line, n)
            if letter is None:
                letter = parse_multi_choice_response(response, index2ans)
            correct = letter is not None and letter == sample.answer
            return ItemScore(letter, correct, float(correct), details={"explicit": explicit})
        preds = parse_open_response(explicit if explicit is not None else response)
        correct = eval_open(sample.answer, preds)
        return ItemScore(explicit, correct, float(correct), details={"parsed": [str(p) for p in preds]})

    def metrics(self, items: list[tuple[Sample, ItemScore]]) -> dict[str, float]:
        return accuracy_metrics(items, ("subject", "subfield", "topic_difficulty", "question_type"))


def _options(raw) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = ast.literal_eval(raw)
    return [str(o) for o in raw]


def _place_images(text: str, row: dict, root: str | None):
    """Replace `<image k>` tags with `<image>` placeholders, images in order of appearance;
    images never mentioned go first (MMMU questions sometimes omit the tag)."""
    order = [int(k) for k in _IMAGE_TAG.findall(text)]
    present = [k for k in range(1, 8) if row.get(f"image_{k}") is not None]
    if any(k not in present for k in order):
        return None, text
    unmentioned = [k for k in present if k not in order]
    images = [to_image(row[f"image_{k}"], root) for k in unmentioned + order]
    return images, "<image>" * len(unmentioned) + _IMAGE_TAG.sub("<image>", text)


def parse_multi_choice_response(response: str, index2ans: dict[str, str]) -> str | None:
    """MMMU's multiple-choice parser: "(A)", then " A ", then (for responses longer than five
    words) option content; several candidates -> the last one mentioned; none -> None."""
    for ch in (",", ".", "!", "?", ";", ":", "'"):
        response = response.strip(ch)
    response = f" {response} "
    choices = list(index2ans)
    candidates = [c for c in choices if f"({c})" in response]
    pattern = "({})"
    if not candidates:
        candidates, pattern = [c for c in choices if f" {c} " in response], " {} "
    by_content = False
    if not candidates and len(response.split()) > 5:
        candidates = [c for c, ans in index2ans.items() if ans.lower() in response.lower()]
        by_content = True
    if not candidates:
        return None
    if by_content:
        return max(candidates, key=lambda c: response.lower().rfind(index2ans[c].lower()))
    return max(candidates, key=lambda c: response.rfind(pattern.format(c)))


def _normalize_open(s) -> list:
    s = str(s).strip()
    try:
        return [round(float(s.replace(",", "")), 2)]
    except ValueError:
        s = s.lower()
        return [" " + s, s + " "] if len(s) == 1 else [s]  # single letters only match as words


def _extract_numbers(s: str) -> list[str]:
    commas = re.findall(r"-?\b\d{1,3}(?:,\d{3})+\b", s)
    sci = re.findall(r"-?\d+(?:\.\d+)?[eE][+-]?\d+", s)
    simple = re.findall(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])", s)
    return commas + sci + simple


def parse_open_response(response: str) -> list:
    """MMMU's open-answer parser: key sub-responses after "is", "so", "answer", "=" ...,
    plus every number in them, normalised (numbers rounded to 2 decimals)."""
    response = response.strip().strip(".").lower()
    subs = re.split(r"\.\s(?=[A-Z])|\n", response)
    indicators = ["could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result "]
    keys = []
    for i, sub in enumerate(subs):
        marks = indicators + (["="] if i == len(subs) - 1 else [])
        shortest = ""
        for tail in (sub.split(m)[-1].strip() for m in marks if m in sub):
            # The official loop: an empty tail so far is replaced by the next one found, whatever
            # its length ("so the answer is " keeps "is"); otherwise the shorter tail wins.
            if not shortest or len(tail) < len(shortest):
                shortest = tail
        if shortest and shortest not in (":", ",", ".", "!", "?", ";", "'"):
            keys.append(shortest)
    keys = keys or [response]
    preds = list(keys) + [n for k in keys for n in _extract_numbers(k)]
    out = []
    for p in preds:
        for v in _normalize_open(p):
            if v not in out:
                out.append(v)
    return out


def eval_open(gold: str, preds: list) -> bool:
    """MMMU's eval_open: a string gold must appear inside a string prediction; a numeric gold
    must equal a numeric prediction (2 decimals). Golds may be a list ("['24', '3.4']")."""
    golds = ast.literal_eval(gold) if gold.startswith("[") else [gold]
    norm = [v for g in golds for v in _normalize_open(g)]
    for p in preds:
        if isinstance(p, str):
            if any(isinstance(g, str) and g in p for g in norm):
                return True
        elif p in norm:
            return True
    return False
