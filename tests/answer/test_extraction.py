"""Answer extraction: boxed with brace matching, tags, answer lines, option letters and sets."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrl.answer.extraction import (
    extract_answer_line,
    extract_answer_or_short,
    extract_answer_tag,
    extract_boxed,
    extract_final_answer,
    extract_json_field,
    extract_letter_set,
    extract_option_letter,
    match_option_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
        (r"\boxed{1} then \boxed{2}", "2"),  # the last one
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces are content
        (r"\boxed{a^{2}+b_{1}}", "a^{2}+b_{1}"),
        (r"\fbox{7}", "7"),
        (r"\boxed 5", "5"),
        (r"\boxed{unclosed", None),
        ("no answer here", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


def test_tags_and_lines():
    assert extract_answer_tag("<think>x</think><answer> 42 </answer>") == "42"
    assert extract_answer_line("work...\nAnswer: B.") == "B"
    assert extract_answer_line("**Final Answer:** 3.5") == "3.5"
    assert extract_answer_line("To answer this we look at the chart") is None
    assert extract_final_answer("The answer is 12.") == "12"
    # boxed wins over the rest; a boxed answer inside <answer> is unwrapped
    assert extract_final_answer("Answer: 3 <answer>\\boxed{4}</answer>") == "4"
    assert extract_final_answer("<answer>\\boxed{5}</answer>") == "5"


def test_short_reply_is_its_own_answer():
    assert extract_answer_or_short("(B)") == "(B)"
    assert extract_answer_or_short("a long explanation without a marker " * 3) is None


def test_json_short_answer():
    assert extract_json_field('{"solution": "x", "short answer": "3.142"}', "short answer") == "3.142"
    assert (
        extract_json_field('Here: {"solution": "...", "short answer": "B"', "short answer") == "B"
    )  # broken JSON


@pytest.mark.parametrize(
    ("answer", "n", "expected"),
    [
        ("B", 4, "B"),
        ("(c)", 4, "C"),
        ("D. Tokyo", 4, "D"),
        ("Option A", 4, "A"),
        ("\\text{B}", 4, "B"),
        ("E", 4, None),  # not an option of a 4-option question
        ("Europe", 4, None),
        ("A and C", 4, None),
        ("", 4, None),
        (None, 4, None),
    ],
)
def test_option_letter(answer, n, expected):
    assert extract_option_letter(answer, n) == expected


def test_letter_sets():
    assert extract_letter_set("A, C", "ABCD") == {"A", "C"}
    assert extract_letter_set("C and A", "ABCD") == {"A", "C"}
    assert extract_letter_set("(B)(D)", "ABCD") == {"B", "D"}
    assert extract_letter_set("1, 3", "12345") == {"1", "3"}
    assert extract_letter_set("Because A", "ABCD") == frozenset()


def test_option_text_whole_match_only():
    choices = ["Asia", "Africa", "Europe", "Oceania"]
    assert match_option_text("europe.", choices) == "C"
    assert match_option_text("E", choices) is None  # the lmms-eval "E" == "Europe" bug
    assert match_option_text("Eur", choices) is None


# ----------------------------------------------------------------- properties

_FILLER = st.text(alphabet=string.ascii_letters + string.digits + " .,:;!?\n()[]=+-*/", max_size=80)
_ANSWER = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.fractions(max_denominator=50).map(lambda f: rf"\frac{{{f.numerator}}}{{{f.denominator}}}"),
    st.text(alphabet=string.ascii_letters + string.digits + "+-*^_ ", min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool),
    st.sampled_from([r"\{1, 2\}", "x^{2}+1", r"\sqrt{2}", "(1, 2)"]),
)


@settings(max_examples=150, deadline=None, database=None)
@given(prefix=_FILLER, answer=_ANSWER, suffix=_FILLER)
def test_boxed_survives_any_wrapping(prefix, answer, suffix):
    """Whatever text surrounds it, the last \\boxed{} comes back whole."""
    text = f"{prefix}\\boxed{{{answer}}}{suffix}"
    assert extract_boxed(text) == answer.strip()
    assert extract_final_answer(text) == answer.strip()


@settings(max_examples=100, deadline=None, database=None)
@given(first=_ANSWER, second=_ANSWER, middle=_FILLER)
def test_last_boxed_wins(first, second, middle):
    assert extract_boxed(f"\\boxed{{{first}}}{middle}\\boxed{{{second}}}") == second.strip()


@settings(max_examples=100, deadline=None, database=None)
@given(text=_FILLER)
def test_no_marker_no_answer(text):
    """Text without any answer marker never yields a (long) answer: no guessing."""
    found = extract_final_answer(text)
    lowered = text.lower()
    if "answer" not in lowered and "box" not in lowered:
        assert found is None
