"""Numbers in answers: parse "1,234.5", "45%", "145°", "\\frac{1}{2}", "\\$13.00" and compare them.

The bottom of the answer layer: `extraction` and `equivalence` both build on it.
"""

from __future__ import annotations

import math
import re

_LATEX_WRAPPERS = re.compile(r"\\(?:text|textbf|textrm|textnormal|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]+)\}\s*\{([^{}]+)\}")
_UNIT_TAIL = re.compile(
    r"\s*(?<![A-Za-z])(?:units?|degrees?|deg|cm\^?2?|mm|km|m\^?[23]?|meters?|inches|inch|feet|ft|kg|g|s|seconds?|"
    r"hours?|minutes?|miles?|dollars?|cents?|yuan|years?|days?|points?|people|students?)\.?$",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_PERCENT_WORD = re.compile(r"\s*(?:\\%|%|percentage|percent|pct)\s*$", re.IGNORECASE)
_THOUSANDS = re.compile(r"[-+]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?|[-+]?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?")


def normalize_text(s: str) -> str:
    """Lower-case, unwrap `\\text{}`, drop `$`, surrounding punctuation and repeated spaces."""
    s = _LATEX_WRAPPERS.sub(r"\1", str(s))
    s = s.replace("$", "").replace("\\,", " ").replace("\\!", "").replace("~", " ")
    s = re.sub(r"\s+", " ", s.strip().lower())
    return s.strip(" .;:!?'\"`")


def parse_number(s: str | float | int | None) -> float | None:
    """A float from "1,234.5", "1 000", "45%", "28 percent", "145°", "3 cm", "\\frac{1}{2}",
    "-3/4", "$13.00", "\\$13.00"; else None. Commas only group thousands ("0,111" and
    "1,22" are not numbers: no decimal commas)."""
    if s is None:
        return None
    if isinstance(s, (int, float)) and not isinstance(s, bool):
        return float(s)
    t = _LATEX_WRAPPERS.sub(r"\1", str(s)).strip()
    # "\$" before "$": dropping "$" first would leave the backslash ("\$13.00" -> "\13.00").
    t = t.replace("\\$", "").replace("$", "").replace("\\!", "").replace("\\,", "").replace("{,}", ",")
    t = re.sub(r"\^\s*\{?\\circ\}?|°|\\degree", "", t)
    t = t.replace("−", "-").strip().rstrip(".").strip()
    t = _PERCENT_WORD.sub("", t).strip()  # "45%" reads as 45: golds are written both ways
    t = _UNIT_TAIL.sub("", t).strip()
    if _THOUSANDS.fullmatch(t):
        t = t.replace(",", "").replace(" ", "")
    frac = _FRAC.fullmatch(t) or re.fullmatch(r"([-+]?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)", t)
    neg_frac = re.fullmatch(r"-\s*" + _FRAC.pattern, t)
    value: float | None = None
    if _NUMBER.match(t):
        value = float(t)
    elif frac or neg_frac:
        num, den = (frac or neg_frac).groups()
        a, b = parse_number(num), parse_number(den)
        if a is not None and b not in (None, 0.0):
            value = (-a if neg_frac else a) / b
    if value is None or not math.isfinite(value):
        return None
    return value


def numbers_equal(
    pred: str | float, gold: str | float, *, abs_tol: float = 1e-6, rel_tol: float = 1e-9
) -> bool:
    """Numeric equality after parsing both sides; False if either side is not a number."""
    a, b = parse_number(pred), parse_number(gold)
    return a is not None and b is not None and math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def round_equal(pred: str | float, gold: str | float, decimals: int) -> bool:
    """Equal after rounding both to `decimals` places (MathVista float precision, MathVision 2 d.p.)."""
    a, b = parse_number(pred), parse_number(gold)
    return a is not None and b is not None and round(a, decimals) == round(b, decimals)


def relaxed_match(pred: str, gold: str, tolerance: float = 0.05) -> bool:
    """ChartQA relaxed accuracy: within `tolerance` relative error for numbers, exact
    (case-insensitive) match for anything else. Gold 0 needs an exact 0."""
    a, b = parse_number(pred), parse_number(gold)
    if a is not None and b is not None:
        return a == b if b == 0 else abs(a - b) / abs(b) <= tolerance
    return normalize_text(pred) == normalize_text(gold)
