"""Comparison primitives: numbers, precision, tolerance, options, math-verify for symbols only."""

from __future__ import annotations

import threading

import pytest

from vrl.answer.equivalence import (
    is_equivalent,
    is_word_answer,
    letter_set_equal,
    option_equal,
    symbolic_equal,
)
from vrl.answer.numbers import parse_number, relaxed_match, round_equal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.5", 1234.5),
        ("45%", 45.0),
        ("145°", 145.0),
        ("30^\\circ", 30.0),
        ("3 cm", 3.0),
        ("$13.00", 13.0),
        ("\\frac{1}{2}", 0.5),
        ("-\\frac{3}{4}", -0.75),
        ("3/4", 0.75),
        ("\\text{12}", 12.0),
        ("twelve", None),
        ("1/0", None),
        ("", None),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("pred", "gold", "kind", "ok"),
    [
        ("0.5", "\\frac{1}{2}", "float", True),
        ("145°", "145", "integer", True),
        ("1,000", "1000", "integer", True),
        ("x+1", "1+x", "expression", True),
        ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", "expression", True),
        ("(1, 2)", "(1,2)", "coordinates", True),
        ("(2, 1)", "(1,2)", "coordinates", False),
        ("[1, 2, 3]", "1, 2, 3", "list", True),
        ("(B)", "B", "choice", True),
        ("C", "B", "choice", False),
        ("Yes", "sey", "text", False),  # math-verify would say equal: letters multiply
        ("Yes", "sey", "expression", False),
        ("yes.", "Yes", "text", True),
        ("E", "Europe", "text", False),
        ("", "0", "integer", False),
    ],
)
def test_is_equivalent(pred, gold, kind, ok):
    assert is_equivalent(pred, gold, kind) is ok


def test_precision_and_tolerance():
    assert round_equal("1.54", "1.5", 1) is True
    assert round_equal("1.56", "1.5", 1) is False
    assert relaxed_match("104", "100") and not relaxed_match("106", "100")
    assert relaxed_match("0", "0") and not relaxed_match("0.01", "0")  # zero gold needs exactness
    assert relaxed_match("Japan", "japan")


def test_options_and_sets():
    choices = ["Asia", "Africa", "Europe", "Oceania"]
    assert option_equal("C", "C", choices) and option_equal("Europe", "C", choices)
    assert not option_equal("E", "C", choices)
    assert letter_set_equal("C, A", "A, C", "ABCD")
    assert not letter_set_equal("A", "A, C", "ABCD")
    assert not letter_set_equal("", "A", "ABCD")


def test_word_answers_never_reach_math_verify():
    assert is_word_answer("Yes") and is_word_answer("not a function")
    assert not is_word_answer("\\sin x + \\pi") and not is_word_answer("x^2+y")
    assert symbolic_equal("Yes", "sey") is False


def test_math_verify_off_the_main_thread():
    """signal.alarm only works in the main thread; the wrapper must not raise elsewhere."""
    out = {}

    def run():
        out["eq"] = symbolic_equal("\\frac{2}{4}", "0.5")
        out["neq"] = symbolic_equal("x+2", "x+1")

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert out == {"eq": True, "neq": False}


# ----------------------------------------------------------------- regressions on released outputs


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("\\$13.00", 13.0),  # was None: "$" went first and left "\13.00"
        ("\\$16386.17", 16386.17),  # Math-Verify test_math_extraction_edge_cases
        ("28 percent", 28.0),  # Math-Verify test_percent_notation
        ("28 pct", 28.0),
        ("$28$ percent", 28.0),
        ("28 percentage", 28.0),
        ("125\\textnormal{ miles}", 125.0),
        ("$14{,}916$", 14916.0),
        ("1 000", 1000.0),
        ("0,111", None),  # was 111: a leading 0 groups no thousands (and no decimal commas)
        ("1,22", None),
        ("3cm", 3.0),
    ],
)
def test_parse_number_regressions(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("answer", "word"),
    [
        ("\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}", False),  # was a word: "pmatrix"
        ("\\left[\\begin{array}{cc}1 & 2 \\\\3 & 4\\end{array}\\right]", False),
        ("5\\text{ cm}", False),  # a unit after a number
        ("6 \\text{ and } 8", False),  # Math-Verify numina: "\boxed{6 \text{ and } 8}"
        ("(11,7)or(7,11)", False),
        ("AB=4,CD=5", False),  # point names next to an operator (Math-Verify numina)
        ("\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}", False),
        ("|AB|=1", False),
        ("AB", True),  # alone it may be a word: never math-verify
        ("Yes", True),
        ("Yes or no", True),
        ("and", True),  # "and" alone would reach math-verify as a*n*d
        ("\\text{Yes}", True),
        ("W(x)=1orW(x)=-1", True),
    ],
)
def test_is_word_answer_regressions(answer, word):
    assert is_word_answer(answer) is word


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        (
            "\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}",
            "\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}",
        ),
        ("4, 5", "AB=4,CD=5"),  # Math-Verify numina
        ("6,8", "6 \\text{ and } 8"),
        ("28 percent", "28\\%"),
        ("\\$16386.17", "16386.17"),
        ("1", "|AB|=1"),  # Math-Verify open_thoughts
    ],
)
def test_reach_math_verify_after_the_word_fix(pred, gold):
    assert is_equivalent(pred, gold, "expression")


def test_option_equal_by_value():
    assert option_equal("13", "B", ["12°", "13°", "14°"])  # "13" vs "13°"
    assert option_equal("18", "D", ["9", "12", "18", "18"])  # either copy of a duplicated option
    assert not option_equal("18", "A", ["9", "12", "18", "18"])


def test_repeated_comparisons_are_answered_from_the_cache_and_long_ones_afresh():
    # An RL step compares the same short answers again and again (a group's responses agree):
    # each distinct question is worked out once; a long garbled "answer" is never kept.
    from vrl.answer import equivalence

    equivalence._compared_cached.cache_clear()
    for _ in range(3):
        assert is_equivalent(" 0.5 ", "1/2", "float")
        assert not is_equivalent("0.5", "1/3", "float")
    info = equivalence._compared_cached.cache_info()
    assert (info.misses, info.hits) == (2, 4)
    garbled = "1" + "+1" * 200
    assert not is_equivalent(garbled, "3", "integer")
    assert equivalence._compared_cached.cache_info().currsize == 2
