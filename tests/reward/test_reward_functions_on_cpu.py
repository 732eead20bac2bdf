"""Reward functions on tricky strings; the VL-Rethinker table row by row."""

import math_verify
import pytest

from vrl.answer.cues import count_cues
from vrl.answer.final import extract_answer
from vrl.reward import (
    accuracy_reward,
    boxed_format,
    choice_reward,
    think_answer_format,
    vlrethinker_reward,
)


def test_extract_answer_boxed_nesting_and_tags():
    assert extract_answer(r"so \boxed{\frac{1}{\sqrt{2}}} done") == r"\frac{1}{\sqrt{2}}"
    assert extract_answer(r"\boxed{\boxed{5}}") == "5"
    assert extract_answer(r"first \boxed{3}, Wait, no: \boxed{4}") == "4"  # the last one
    assert extract_answer("<think>x</think><answer> 0.5 </answer>") == "0.5"
    assert extract_answer("Answer: 7") is None  # only boxed or the answer tag count here


def test_accuracy_numbers_symbols_and_boxed_gold():
    completions = [
        r"\boxed{\frac{1}{2}}",
        "<answer>0.5</answer>",
        r"\boxed{\frac{\sqrt{2}}{2}}",
        r"\boxed{3} ... \boxed{4}",
        "no answer at all",
        r"\boxed{1,234}",
    ]
    gold = ["0.5", r"\boxed{\frac{1}{2}}", r"\frac{1}{\sqrt{2}}", "4", "4", "1234"]
    types = ["float", "float", "expression", "integer", "integer", "integer"]
    assert accuracy_reward(completions, answer=gold, answer_type=types) == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0]


def test_words_never_reach_math_verify(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        raise AssertionError("math-verify must not see words")

    monkeypatch.setattr(math_verify, "parse", spy)
    monkeypatch.setattr(math_verify, "verify", spy)
    completions = [r"\boxed{Yes}", r"\boxed{sey}", r"\boxed{\text{Blue}}", r"\boxed{sey}"]
    gold = ["yes", "yes", "blue", "yes"]
    types = ["text", "text", "text", "integer"]  # a mistyped word gold must not reach it either
    assert accuracy_reward(completions, answer=gold, answer_type=types) == [1.0, 0.0, 1.0, 0.0]
    assert calls == []


def test_accuracy_routes_choice_questions_through_option_letters():
    choices = [["London", "Paris", "Rome", "Berlin"]] * 4
    completions = [r"\boxed{(B)}", r"\boxed{Paris}", r"\boxed{E}", r"\boxed{A}"]
    out = accuracy_reward(
        completions, answer=["B", "B", "B", "B"], answer_type=["choice"] * 4, choices=choices
    )
    assert out == [1.0, 1.0, 0.0, 0.0]


def test_choice_reward_letters_texts_and_out_of_range():
    choices = [["Europe", "Asia", "Africa"]] * 6
    completions = ["B", "(B) Asia", r"\boxed{\text{B}}", "E", r"\boxed{Asia}", "The answer is B."]
    gold = ["B", "B", "B", "A", "B", "B"]
    # "E" is not an option of a 3-option question and never matches "Europe"
    assert choice_reward(completions, answer=gold, choices=choices) == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    assert choice_reward(["C"], answer=["Africa"], choices=[["Europe", "Asia", "Africa"]]) == [1.0]


def test_think_answer_format_each_tag_exactly_once():
    good = "<think>reason</think>\n<answer>5</answer>"
    assert think_answer_format(
        [
            good,
            "<think>a</think><think>b</think><answer>5</answer>",  # think twice
            "<think>a</think>",  # no answer
            "preamble <think>a</think><answer>5</answer>",  # text outside the tags
            "<answer>5</answer><think>a</think>",  # wrong order
            "<think>a</think><answer> </answer>",  # empty answer
        ]
    ) == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert boxed_format([r"x \boxed{2}", r"\boxed{}", "2"]) == [1.0, 0.0, 0.0]


def test_cue_counting_is_lower_cased_substrings():
    assert count_cues("Wait, no. WAIT A second. Alternatively... wait") == 3


@pytest.mark.parametrize(
    ("text", "finished", "forced", "expected"),
    [
        (r"so \boxed{2}", False, False, -0.1),  # correct but no EOS: invalid
        ("so it is 2", True, False, -0.1),  # no \boxed: invalid
        ("wait " * 6 + r"\boxed{2}", True, False, -0.1),  # 6 "wait" > 5: invalid
        (r"so \boxed{3}", True, False, 0.0),  # wrong
        (r"Wait, wait a sec \boxed{2}", True, True, 1.0),  # correct, forced: no bonus
        (r"so \boxed{2}", True, False, 1.0),  # correct, no cue
        (r"Wait, yes \boxed{2}", True, False, 1.1),  # correct, 1 cue
        (r"Wait, hmm. Alternatively \boxed{2}", True, False, 1.1),  # correct, 2 cues
        (r"Wait, a. Wait, b. Alternatively \boxed{2}", True, False, 0.4),  # 3 cues: 1 - 0.6
        ("Wait, " * 4 + r"\boxed{2}", True, False, 0.2),  # 4 cues: 1 - 0.8
        ("Wait, " * 5 + r"\boxed{2}", True, False, 0.0),  # 5 cues (5 "wait" is still valid): 1 - 1.0
        ("Alternatively " * 6 + r"\boxed{2}", True, False, -0.1),  # 6 cues: max(1 - 1.2, -0.1)
        (r"Wait, \boxed{3}", True, False, 0.0),  # wrong with a cue: no bonus
    ],
)
def test_vlrethinker_table(text, finished, forced, expected):
    out = vlrethinker_reward(
        [text], answer=["2"], finished=[finished], forced=[forced], answer_type=["integer"]
    )
    assert out[0] == pytest.approx(expected)
