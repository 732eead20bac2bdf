"""Pull the final answer out of a model response. Pure string functions, no model, no I/O.

Order of preference in `extract_final_answer`: the last `\\boxed{...}` (brace-matched), then
the last `<answer>...</answer>`, then the last "Answer: ..." line, then the last "the answer
is ..." phrase (also "the correct option is ...", and the Chinese "答案是 ..."). A phrase's
answer ends with its sentence ("the answer is 12. This is because ..." reads "12"), and an
answer line that is itself a phrase ("Final Answer: The final answer is 7. I hope it is
correct.") reads the phrase. None means "no answer found"; scorers count that as wrong,
deterministically (MMMU's official parser picks a random letter there; we never do).

Option helpers (`extract_option_letter`, `extract_letter_set`, `match_option_text`) turn an
extracted answer into option letters. They only accept a letter that is a valid option for the
question, never a hedge that names two ("(A) or (B)"), and only accept option *text* on a
whole-string match (or, for numbers, an equal value: "13" is the option "13°"), so a bare "E"
never counts as the option "Europe" (an lmms-eval bug this module is tested against).
"""

from __future__ import annotations

import json
import re

from vrl.answer.numbers import numbers_equal, parse_number

_BOXED_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_BARE = re.compile(r"\\boxed\s+([^\s$]+)")  # "\boxed 5" (no braces), as some models write
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
# "Answer: X", "**Final Answer:** X", "ANSWER: X" (the colon is required here: prose like
# "to answer this" must not match).
# The marker only; the answer is the rest of its line, or the next non-empty line when the
# marker ends its line ("The correct answer is:\n\n**C**").
_ANSWER_LINE = re.compile(r"(?:final[ \t]+answer|answer)[ \t]*(?:is)?[ \t]*\**[ \t]*[:：]", re.IGNORECASE)
# "the answer is", "the correct option is", "the final answer is:"; Chinese "答案是", "正确答案为",
# "答案：", "选项为" (the answer/option is). Only the marker: the answer is the rest of its line.
_ANSWER_PHRASE = re.compile(
    r"\bthe\s+(?:final\s+|correct\s+|right\s+|best\s+)?(?:answer|option|choice)(?:\s+letter)?\s+is\b\s*[:：]?"
    r"(?:\s*(?:therefore|thus|definitely|clearly|still|probably|likely|indeed)\b,?)?"
    r"|(?:答案|选项|選項)+\s*(?:应该是|應該是|应为|應為|是|为|為)?\s*[:：]?",
    re.IGNORECASE,
)
# The end of the answer's sentence: a full stop before a capital letter.
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])|。")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BRACE = re.compile(r"\\[{}]|[{}]")  # an escaped brace, or a brace


def extract_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), with nested braces matched."""
    starts = [m.end() for m in _BOXED_START.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for brace in _BRACE.finditer(text, start):  # from brace to brace, not character by character
            if len(brace.group()) == 2:
                continue  # an escaped brace (\{ or \}) is content, not structure
            depth += 1 if brace.group() == "{" else -1
            if depth == 0:
                return text[start : brace.start()].strip()
    bare = _BOXED_BARE.findall(text)
    return bare[-1].strip() if bare else None


def extract_answer_tag(text: str) -> str | None:
    """Content of the last `<answer>...</answer>`, stripped."""
    found = _ANSWER_TAG.findall(text)
    return found[-1].strip() if found else None


def extract_answer_line(text: str) -> str | None:
    """The rest of the last line that reads "Answer: ..." (or "The final answer is: ...").

    A line that goes on as a phrase ("Final Answer: The final answer is 7. I hope ...") gives
    the phrase's answer ("7")."""
    marks = list(_ANSWER_LINE.finditer(text))
    if not marks:
        return None
    rest = _rest_of_line(text, marks[-1].end())
    return extract_answer_phrase(rest) or _clean_tail(rest)


def extract_answer_phrase(text: str) -> str | None:
    """The rest of the last "the answer is X" sentence (MathVerse's CoT prompt asks for it);
    the sentence ends at a full stop before the next sentence ("X. This is because ...")."""
    marks = list(_ANSWER_PHRASE.finditer(text))
    if not marks:
        return None
    tail = _rest_of_line(text, marks[-1].end())
    return _clean_tail(_SENTENCE_END.split(tail, maxsplit=1)[0])


def _rest_of_line(text: str, start: int) -> str:
    """The text after a marker up to the end of its line; the next non-empty line if the
    marker ends its line (bold markers and colons left on it do not count as text)."""
    first, *others = text[start:].split("\n")
    if first.strip(" \t*:："):
        return first
    return next((line for line in others if line.strip()), "")


# End-of-sequence tokens some released outputs keep ("3.</s>").
_EOS = re.compile(r"\s*(?:</s>|<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>)\s*$")


def extract_final_answer(text: str) -> str | None:
    """The answer a response commits to, or None. Boxed wins over tags, tags over lines."""
    text = _EOS.sub("", text)
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


_OPTION = re.compile(
    r"(?:answer\s*[:：]\s*)?(?:option|choice|选项|選項)?\s*\(?([A-Za-z])\)?"  # the letter, maybe bracketed
    # then nothing, a separator and text, "(option text)", or Chinese text ("B正确": B is right)
    r"\s*(?:[.:：),，。\]]\s*.*|\s[-–—]\s.*|\(.*\)|[\u4e00-\u9fff].*)?",
    re.IGNORECASE | re.DOTALL,
)
# Two option letters joined by a comma, slash, "or" or "and": "(A) or (B)", "B, C", "(B), (C), and (D)".
# A bare second letter must be a capital ("C, a circle" is one answer); a bracketed one may not.
_HEDGE = re.compile(
    r"^(?i:option|choice)?\s*\(?[A-Za-z]\)?\s*(?:,|/|&|\b(?i:or|and)\b)\s*(?:(?i:or|and)\s+)?"
    r"(?:\(([A-Za-z])\)|([A-Z]))(?![A-Za-z])"
)


def extract_option_letter(answer: str | None, n_options: int) -> str | None:
    """A single option letter from an extracted answer, or None.

    Accepts "B", "(B)", "B.", "B)", "B: text", "B, text", "C (145°)", "Option B", "\\text{B}",
    "\\(B\\)". The letter must be one of the first `n_options` letters. Anything else (a word,
    a number, a hedge naming two letters such as "(A) or (B)") returns None: guessing is the
    caller's bug, not ours.
    """
    if not answer:
        return None
    if names_several_options(answer, n_options):
        return None
    valid = option_letters(n_options)
    s = _strip_math_delimiters(_strip_latex_text(answer)).strip().strip("*$ ").strip()
    m = _OPTION.fullmatch(s.replace("（", "(").replace("）", ")"))
    if m and m.group(1).upper() in valid:
        return m.group(1).upper()
    return None


def names_several_options(answer: str | None, n_options: int) -> bool:
    """True for a hedge: an answer naming two or more valid option letters ("(A) or (B)",
    "B, C", "AC"). Such an answer to a single-choice question is wrong, not unanswered."""
    if not answer:
        return False
    valid = option_letters(n_options)
    s = _strip_math_delimiters(_strip_latex_text(answer)).strip().strip("*$ ").strip()
    hedge = _HEDGE.match(s)
    if hedge and (hedge.group(1) or hedge.group(2)).upper() in valid:
        return True
    bracketed = re.fullmatch(r"(?:\(([A-Z])\)\s*){2,}", s)  # "(B)(D)" (not "(D) (a)": a label in an option)
    if bracketed and all(c in valid for c in re.findall(r"\(([A-Z])\)", s)):
        return True
    return re.fullmatch(rf"[{valid}]{{2,}}", s) is not None and len(set(s)) == len(s)  # "AC"


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

    Whole-string match only: "E" does not match "Europe"; "Tokyo." matches "tokyo". A number
    matches an option of equal value ("13" is "13°", "0.5" is "1/2") when no text matches.
    When several options match they must all read the same (an option listed twice: the
    first letter); two different options (values "2 cm" and "2 m" for "2") give None.
    """
    letters = matching_options(answer, choices)
    return letters[0] if letters else None


def matching_options(answer: str | None, choices: list[str]) -> str:
    """Every option letter whose text (or value) `answer` names, as a string ("" for none).

    An answer that names two options with different texts names none."""
    if not answer or not choices:
        return ""
    target = _norm(answer)
    if not target:
        return ""
    hits = [i for i, c in enumerate(choices) if _norm(c) == target]
    if (
        not hits
    ):  # the same LaTeX spaced or spelled differently: "\\frac{5}{3}\\pi" is "\\frac { 5 } { 3 } \\pi"
        compact = _compact(answer)
        hits = [i for i, c in enumerate(choices) if _compact(c) == compact]
    if not hits:
        if parse_number(answer) is not None:
            hits = [i for i, c in enumerate(choices) if numbers_equal(answer, c)]
            if len({_norm(choices[i]) for i in hits}) > 1:
                return ""
    return "".join(_LETTERS[i] for i in hits)


def _norm(s: str) -> str:
    s = _strip_latex_text(s).lower().strip()
    return re.sub(r"[\s.,;:!?'\"`$]+", " ", s).strip()


def _compact(s: str) -> str:
    """An option's text with no spaces, `$`, `\\left`/`\\right`, and one spelling of fractions,
    roots, pi and degrees (full stops kept: "3.85" and "38.5" stay different)."""
    t = _strip_latex_text(s).lower().replace("$", "")
    t = re.sub(r"\\left|\\right|\\[,!;]|\s+", "", t)
    t = re.sub(r"\\[dt]frac", r"\\frac", t).replace("√", "\\sqrt").replace("π", "\\pi")
    t = re.sub(r"\^\{?\\circ\}?|\\degree", "°", t)
    return t.rstrip(".")


def _strip_latex_text(s: str) -> str:
    """`\\text{B}` -> `B`, nested ones too (`\\text{\\(\\text{Answer: A}\\)}`)."""
    prev = None
    while prev != s:
        prev, s = s, re.sub(r"\\(?:text|textbf|textrm|textnormal|mathrm|mbox)\s*\{([^{}]*)\}", r"\1", s)
    return s


def _strip_math_delimiters(s: str) -> str:
    """`\\( B \\)`, `\\[ B \\]` -> `B` (only when the delimiters wrap the whole string)."""
    s = s.strip()
    m = re.fullmatch(r"\\\((.*)\\\)|\\\[(.*)\\\]", s, re.DOTALL)
    return (m.group(1) if m.group(1) is not None else m.group(2)).strip() if m else s


def _clean_tail(s: str) -> str:
    """An answer line's tail without markdown bold, a final full stop, math delimiters and a
    closing brace left over from `\\text{Answer: D}`: "**32**." -> "32", "\\(E\\)" -> "E"."""
    prev = None
    while prev != s:
        prev = s
        s = _strip_math_delimiters(s.strip().strip("*").strip().rstrip(".。").strip())
        for close, opening in (("\\)", "\\("), ("\\]", "\\["), ("}", "{")):
            if s.endswith(close) and s.count(close) > s.count(opening):
                s = s[: -len(close)]
    return s


def extract_answer_or_short(text: str, max_len: int = 32) -> str | None:
    """`extract_final_answer`, or the whole response when it is already a short answer
    (MathVista's quick path: a response that *is* "5" or "(B)" needs no extraction)."""
    found = extract_final_answer(text)
    if found is not None:
        return found
    s = _EOS.sub("", text).strip().rstrip(".").strip()
    return s if s and len(s) <= max_len and "\n" not in s else None
