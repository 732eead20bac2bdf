"""Comparison primitives: numbers, precision, tolerance, options, math-verify for symbols only."""

from __future__ import annotations

import threading

import pytest

from vrl.answer.equivalence import (
    is_equivalent,
    is_word_answer,
    letter_set_equal,
    option_equal,
    parse_number,
    relaxed_match,
    round_equal,
    symbolic_equal,
)


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
