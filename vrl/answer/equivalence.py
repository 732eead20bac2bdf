"""Normalisation and comparison primitives shared by the benchmark scorers and the rewards.

Every function is pure and deterministic. Numbers are compared as numbers (commas, units,
percent signs, `\\frac`, degrees stripped first); words are compared as normalised strings and
never handed to math-verify (it treats `Yes` and `sey` as equal: letters multiply); symbolic
answers (expressions, intervals, sets) go to math-verify, bounded in time.

`is_equivalent(pred, gold, answer_type)` is the one entry point the reward functions use;
`answer_type` is one of `vrl.data.schema.ANSWER_TYPES`.
"""

from __future__ import annotations

import math
import re
import threading
from functools import lru_cache

from vrl.answer.extraction import extract_letter_set, extract_option_letter, matching_options
from vrl.answer.numbers import normalize_text, parse_number

# Function names and constants that may appear in a symbolic answer without making it a word.
_MATH_WORDS = re.compile(r"\b(?:sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|log|ln|exp|sqrt|pi|infty|inf)\b")
# What a symbolic answer may hold that is not a word (see is_word_answer).
_ENVIRONMENT = re.compile(
    r"\\(?:begin|end)\s*\{[^{}]*\}(?:\{[^{}]*\})?"
)  # \begin{pmatrix}, \begin{array}{cc}
_TEXT_BLOCK = re.compile(r"\\(?:text|textrm|textnormal|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_CONNECTIVE = re.compile(r"^\s*(?:and|or|,|;)?\s*$", re.IGNORECASE)
_UNIT_WORD = re.compile(
    r"^\s*(?:units?|cm|mm|km|m|meters?|inch(?:es)?|feet|ft|kg|g|s|seconds?|minutes?|hours?|miles?)\s*$"
)
_BETWEEN_MATH = re.compile(r"(?<=[\d)\]}$])\s*\b(?:and|or)\b\s*(?=[-\d(\[{$\\])")
_OPERATOR = re.compile(r"[=<>+\-*/^_\d]")


def option_equal(pred: str, gold_letter: str, choices: list[str]) -> bool:
    """True if `pred` names the gold option by letter ("B", "(B)") or by its text or value
    (an option listed twice counts for either letter)."""
    gold = gold_letter.strip().upper()
    letter = extract_option_letter(pred, len(choices))
    if letter is not None:
        return letter == gold
    return bool(gold) and gold in matching_options(pred, choices)


def letter_set_equal(pred: str, gold: str, labels: str) -> bool:
    """Same set of option labels ("A, C" == "C and A"); empty predictions are wrong."""
    p, g = extract_letter_set(pred, labels), extract_letter_set(gold, labels)
    return bool(p) and p == g


def is_word_answer(s: str) -> bool:
    """True if `s` contains a word: such answers must never reach math-verify.

    A word is two or more letters that are none of: a LaTeX command or environment name
    (`\\begin{pmatrix}`), a math function name, `\\text{ and }` / "and" / "or" between two
    mathematical parts ("1 and 2", "(1,2) or (2,1)"), a unit in `\\text{}` after a number
    (`5\\text{ cm}`), or capitals naming points or segments next to an operator or a digit
    ("AB=4", "\\frac{NO}{BO}"). "Yes", "sey", "not a function", "AB" alone stay words.
    """
    t = _ENVIRONMENT.sub(" ", str(s))
    t = _TEXT_BLOCK.sub(lambda m: " " if _CONNECTIVE.match(m.group(1)) else m.group(0), t)
    t = re.sub(
        r"(?<=[\d}])\s*" + _TEXT_BLOCK.pattern,
        lambda m: "" if _UNIT_WORD.match(m.group(1)) else m.group(0),
        t,
    )
    t = re.sub(r"\\[A-Za-z]+", " ", t)
    t = _MATH_WORDS.sub(" ", t)
    t = _BETWEEN_MATH.sub(" ", t)
    if _OPERATOR.search(t):
        t = re.sub(r"(?<![A-Za-z])[A-Z]{2,4}(?![A-Za-z])", " ", t)
    return re.search(r"[A-Za-z]{2,}", t) is not None


def symbolic_equal(pred: str, gold: str, timeout_s: int = 5) -> bool:
    """math-verify equivalence of two symbolic answers; False for word answers or on failure.

    math-verify bounds its own time with `signal.alarm`, which only works in the main thread;
    elsewhere we pass `None` timeouts (the caller bounds time, e.g. with a process pool).
    """
    if not pred or not gold or is_word_answer(pred) or is_word_answer(gold):
        return False
    main = threading.current_thread() is threading.main_thread()
    return _verify_cached(_strip_degree(pred), _strip_degree(gold), timeout_s if main else None)


@lru_cache(maxsize=65536)
def _verify_cached(pred: str, gold: str, timeout: int | None) -> bool:
    from math_verify import verify

    g, p = _parse_cached(gold, timeout), _parse_cached(pred, timeout)
    if not g or not p:
        return False
    try:
        return bool(verify(list(g), list(p), timeout_seconds=timeout))
    except Exception:  # math-verify raises on pathological input; that is "not equal"
        return False


@lru_cache(maxsize=65536)
def _parse_cached(s: str, timeout: int | None) -> tuple:
    # A gold is compared with every sampled response: parse it once (parsing is ~3 ms).
    from math_verify import parse

    try:
        return tuple(parse(_as_latex(s), parsing_timeout=timeout))
    except Exception:
        return ()


def _as_latex(s: str) -> str:
    s = s.strip()
    return s if "$" in s or "\\boxed" in s else f"${s}$"


def _strip_degree(s: str) -> str:
    # math-verify fails on `145°` vs `145`: units go before it sees the string.
    return re.sub(r"\^\s*\{?\\circ\}?|°|\\degree", "", str(s)).strip()


def split_items(s: str) -> list[str]:
    """Elements of a list/tuple/coordinate answer: "(1, 2)", "[1,2,3]", "1; 2"."""
    t = normalize_text(s).strip("()[]{} ")
    t = t.replace("\\left", "").replace("\\right", "")
    return [x.strip() for x in re.split(r"[,;]", t) if x.strip()]


def is_equivalent(pred: str, gold: str, answer_type: str) -> bool:
    """Whether `pred` is a correct answer for `gold`, compared the way `answer_type` demands.

    integer/float: numerically (tolerance 1e-6), then symbolically ("1/2" == "0.5").
    text: normalised string equality; never math-verify.
    choice: option letters ("(B)" == "B"); gold must be a letter.
    expression: normalised string, then number, then math-verify.
    coordinates/list: element-wise with the numeric/symbolic rules, same length and order.
    """
    if pred is None or gold is None:
        return False
    pred, gold = str(pred).strip(), str(gold).strip()
    if len(pred) + len(gold) <= _CACHED_CHARS:
        return _compared_cached(pred, gold, answer_type)
    return _compared(pred, gold, answer_type)


def _compared(pred: str, gold: str, answer_type: str) -> bool:
    """`is_equivalent` of two stripped strings."""
    if not pred:
        return False
    if answer_type == "choice":
        return extract_option_letter(pred, 26) == extract_option_letter(gold, 26) is not None
    if answer_type == "text":
        return normalize_text(pred) == normalize_text(gold)
    if answer_type in ("coordinates", "list"):
        p, g = split_items(pred), split_items(gold)
        return len(p) == len(g) > 0 and all(_scalar_equal(a, b) for a, b in zip(p, g))
    return _scalar_equal(pred, gold)


# An RL step asks the same few questions many times (a group's responses mostly give the same
# answer, and the same answers come back step after step): 128 answers of the embedded default
# took ~2.7 ms a step uncached, nearly all in normalising and parsing the same strings again
# (experiments/rl_speed). Long strings (a garbled response's "answer") are compared afresh:
# they do not repeat, and would pin memory in every reward worker.
_CACHED_CHARS = 256
_compared_cached = lru_cache(maxsize=65536)(_compared)


def _scalar_equal(pred: str, gold: str) -> bool:
    if normalize_text(pred) == normalize_text(gold):
        return True
    a, b = parse_number(pred), parse_number(gold)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return symbolic_equal(pred, gold)
