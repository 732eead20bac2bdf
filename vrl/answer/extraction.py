"""Pull the final answer out of a model response. Pure string functions, no model, no I/O.

Order of preference in `extract_final_answer`: the last `\\boxed{...}` (brace-matched), then
the last `<answer>...</answer>`, then the last "Answer: ..." line, then the last "the answer
is ..." phrase. None means "no answer found"; scorers count that as wrong, deterministically
(MMMU's official parser picks a random letter there; we never do).

Option helpers (`extract_option_letter`, `extract_letter_set`, `match_option_text`) turn an
extracted answer into option letters. They only accept a letter that is a valid option for the
question and only accept option *text* on a whole-string match, so a bare "E" never counts as
the option "Europe" (an lmms-eval bug this module is tested against).
"""

from __future__ import annotations

import json
import re

_BOXED_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_BARE = re.compile(r"\\boxed\s+([^\s$]+)")  # "\boxed 5" (no braces), as some models write
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
# "Answer: X", "**Final Answer:** X", "ANSWER: X" (the colon is required here: prose like
# "to answer this" must not match).
_ANSWER_LINE = re.compile(r"(?:final\s+answer|answer)\s*(?:is)?\s*\**\s*[:：]\s*\**\s*(.+)", re.IGNORECASE)
_ANSWER_PHRASE = re.compile(r"\bthe\s+(?:final\s+|correct\s+)?answer\s+is\s*[:：]?\s*(.+)", re.IGNORECASE)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def extract_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), with nested braces matched."""
    starts = [m.end() for m in _BOXED_START.finditer(text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
                i += 2  # an escaped brace (\{ or \}) is content, not structure
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            i += 1
        if depth == 0:
            return text[start : i - 1].strip()
    bare = _BOXED_BARE.findall(text)
    return bare[-1].strip() if bare else None


def extract_answer_tag(text: str) -> str | None:
    """Content of the last `<answer>...</answer>`, stripped."""
    found = _ANSWER_TAG.findall(text)
    return found[-1].strip() if found else None


def extract_answer_line(text: str) -> str | None:
    """The rest of the last line that reads "Answer: ..." (or "The final answer is: ...")."""
    found = _ANSWER_LINE.findall(text)
    return _clean_tail(found[-1]) if found else None


def extract_answer_phrase(text: str) -> str | None:
    """The rest of the last "the answer is X" sentence (MathVerse's CoT prompt asks for it)."""
    found = _ANSWER_PHRASE.findall(text)
    return _clean_tail(found[-1]) if found else None


def extract_final_answer(text: str) -> str | None:
    """The answer a response commits to, or None. Boxed wins over tags, tags over lines."""
    for extractor in (extract_boxed, extract_answer_tag, extract_answer_line, extract_answer_phrase):
        answer = extractor(text)
        if answer is not None and answer != "":
            inner = extract_boxed(answer) if "\\boxed" in answer else None
            return inner if inner is not None else answer
    return None


def extract_json_field(text: str, key: str) -> str | None:
    """Value of `key` in the last JSON object of the response (DynaMath asks for
    `{"solution": ..., "short answer": ...}`); falls back to a regex when the JSON is broken."""
    for match in reversed(list(re.finditer(r"\{.*?\}", text, re.DOTALL))):
        try:
            obj = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict) and key in obj:
            return str(obj[key]).strip()
    found = re.findall(rf'"{re.escape(key)}"\s*:\s*"?([^"\n}}]+)', text)
    return found[-1].strip() if found else None


def option_letters(n: int) -> str:
    """The first n option letters ("ABCD" for n=4)."""
    return _LETTERS[:n]


def extract_option_letter(answer: str | None, n_options: int) -> str | None:
    """A single option letter from an extracted answer, or None.

    Accepts "B", "(B)", "B.", "B)", "B: text", "Option B", "\\text{B}". The letter must be
    one of the first `n_options` letters. Anything else (a word, a number, two letters)
    returns None: guessing is the caller's bug, not ours.
    """
    if not answer:
        return None
    valid = option_letters(n_options)
    s = _strip_latex_text(answer).strip().strip("*$ ").strip()
    m = re.fullmatch(
        r"(?:option|choice)?\s*\(?([A-Za-z])\)?\s*(?:[.:：)\]]\s*.*)?", s, re.IGNORECASE | re.DOTALL
    )
    if m and m.group(1).upper() in valid:
        return m.group(1).upper()
    return None


def extract_letter_set(answer: str | None, labels: str) -> frozenset[str]:
    """All option labels named in an answer like "A, C", "A and C", "(B)(D)" or "1, 3".

    `labels` is the label alphabet allowed for the question ("ABCD" or "12345"). Returns an
    empty set when the answer names anything that is not a label (so "Because A" is empty:
    prose around letters is not an answer).
    """
    if not answer:
        return frozenset()
    s = _strip_latex_text(answer).upper()
    s = re.sub(r"\b(?:AND|OR|OPTIONS?|CHOICES?)\b", " ", s)
    tokens = [t for t in re.split(r"[\s,;/&()\[\]{}.:+]+", s) if t]
    if not tokens or any(len(t) != 1 or t not in labels.upper() for t in tokens):
        return frozenset()
    return frozenset(tokens)


def match_option_text(answer: str | None, choices: list[str]) -> str | None:
    """The letter of the option whose text equals `answer` after normalisation, else None.

    Whole-string match only: "E" does not match "Europe"; "Tokyo." matches "tokyo".
    """
    if not answer or not choices:
        return None
    target = _norm(answer)
    if not target:
        return None
    hits = [i for i, c in enumerate(choices) if _norm(c) == target]
    return _LETTERS[hits[0]] if len(hits) == 1 else None


def _norm(s: str) -> str:
    s = _strip_latex_text(s).lower().strip()
    return re.sub(r"[\s.,;:!?'\"`$]+", " ", s).strip()


def _strip_latex_text(s: str) -> str:
    return re.sub(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}", r"\1", s)


def _clean_tail(s: str) -> str:
    s = s.strip().strip("*").strip()
    return s.rstrip(".").strip()


def extract_answer_or_short(text: str, max_len: int = 32) -> str | None:
    """`extract_final_answer`, or the whole response when it is already a short answer
    (MathVista's quick path: a response that *is* "5" or "(B)" needs no extraction)."""
    found = extract_final_answer(text)
    if found is not None:
        return found
    s = text.strip().rstrip(".").strip()
    return s if s and len(s) <= max_len and "\n" not in s else None
