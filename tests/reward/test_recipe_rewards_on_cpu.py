"""The recipes' rewards against the releases' rules, worked by hand, with a scripted judge."""

from __future__ import annotations

import pytest
from vrl_testing import inline_reward

from vrl.answer.judge import JudgeRequest, parse_verdict
from vrl.reward import (
    code_exec_reward,
    consistency_reward,
    deepeyes_format_reward,
    deepeyes_reward,
    vthinker_accuracy_reward,
    vthinker_format,
)


class ScriptedJudge:
    """Replies to each request in turn; records what it was asked."""

    name = "scripted"

    def __init__(self, *replies: str | None) -> None:
        self.replies = list(replies)
        self.requests: list[JudgeRequest] = []

    def judge_many(self, requests):
        self.requests += requests
        return [parse_verdict(self.replies.pop(0)) for _ in requests]


GOOD = "<think>The circle is red.</think>\n<answer>red</answer>"


def test_vthinker_format_is_the_release_pattern():
    assert vthinker_format([GOOD]) == [1.0]
    assert vthinker_format(["preamble <think>x</think> <answer>y</answer>"]) == [
        1.0
    ]  # text before <think> is allowed
    assert vthinker_format(["<think>x</think><answer>y</answer>"]) == [0.0]  # needs one whitespace between
    assert vthinker_format(["<think>x</think>\n\n<answer>y</answer>"]) == [0.0]  # ... exactly one
    assert vthinker_format([GOOD + "\n"]) == [0.0]  # nothing after </answer>
    assert vthinker_format(["<think>x</think> <answer>y</answer><answer>z</answer>"]) == [0.0]


def test_vthinker_accuracy_rule_then_judge_mapped_to_plus_minus_one():
    texts = [
        GOOD,  # the rule matches: +1, no judge call
        "<think>.</think>\n<answer>crimson</answer>",  # judge says 1: +1
        "<think>.</think>\n<answer>blue</answer>",  # judge says 0: -1
        "<think>.</think>\n<answer>green</answer>",  # judge gives no verdict: None (counted)
        "<think>no answer</think>",  # no answer: 0
    ]
    judge = ScriptedJudge('{"Correctness": 1}', '{"Correctness": 0}', "garbled")
    fields = {
        "answer": ["red"] * 5,
        "question": ["<image>Q\nformat..."] * 5,
        "metadata": [{"question": "Q"}] * 5,
    }
    assert vthinker_accuracy_reward(texts, judge=judge, **fields) == [1.0, 1.0, -1.0, None, 0.0]
    assert [r.extracted for r in judge.requests] == ["crimson", "blue", "green"]
    assert (
        "#### Question:\nQ\n" in judge.requests[0].prompt
    )  # the bare question, not the prompt's instructions
    assert "#### Reference Answer:\nred" in judge.requests[0].prompt
    # No judge: the labelled rule fallback decides, -1 where it misses.
    assert vthinker_accuracy_reward(texts, **fields) == [1.0, -1.0, -1.0, -1.0, 0.0]


def test_vthinker_consistency_judge_sees_the_thinking_tail():
    text = (
        "<think>"
        + "x" * 600
        + " so the answer is 7<sandbox_output>img</sandbox_output></think>\n<answer>7</answer>"
    )
    judge = ScriptedJudge('{"Consistency": 0}')
    assert consistency_reward([text], judge=judge, tail_chars=500) == [0.0]
    shown = judge.requests[0].prompt
    assert "<sandbox_output>" not in shown and "so the answer is 7img" in shown
    assert "#### Final Answer:\n7" in shown
    assert consistency_reward([text], tail_chars=500) == [1.0]  # the rule: 7 is in the tail


def test_code_exec_needs_an_answer_when_asked():
    texts = ["<answer>3</answer>", "<think>no answer</think>"]
    assert code_exec_reward(texts, tool_calls=[2, 2], tool_errors=[1, 0]) == [0.5, 1.0]
    assert code_exec_reward(texts, tool_calls=[2, 2], tool_errors=[1, 0], require_answer=True) == [0.5, 0.0]


def test_vthinker_pool_sums_the_release_weights():
    pool = inline_reward("vthinker")
    fields = {
        "answer": ["red"],
        "question": ["Q"],
        "metadata": [{}],
        "tool_calls": [1],
        "tool_errors": [0],
        "tool_images": [1],
    }
    out = pool([GOOD], **fields)
    # format 0.5 * 1 + accuracy 1.0 * 1 + consistency 0.5 * 1 ("red" is in the thinking) + code 0.3 * 1
    assert out.total == [pytest.approx(2.3)]
    wrong = pool(["<think>It is red.</think>\n<answer>blue</answer>"], **fields)
    assert wrong.rewards["accuracy"] == [-1.0]  # the rule fallback's -1


def _deepeyes(texts, sources, answers, images, judge=None):
    n = len(texts)
    return deepeyes_reward(
        texts,
        answer=answers,
        question=["<image>Q + instructions"] * n,
        metadata=[{"data_source": s, "question": "Q"} for s in sources],
        tool_images=images,
        judge=judge,
    )


def test_deepeyes_tool_rows_by_hand():
    texts = [
        "<think>zoom</think><answer>tan</answer>",  # acc 1, tool used: 0.8 + 1.2 = 2.0
        "<think>look</think><answer>tan</answer>",  # acc 1, no tool: 0.8
        "<think>zoom</think><answer>blue</answer>",  # acc 0, tool used: 0
        "<think>zoom<answer>tan</answer>",  # think unbalanced: format -1 -> 0.8 - 0.2 + 1.2 = 1.8
        "<think>x</think><answer>" + "t" * 1000 + "</answer>",  # too long: acc 0, format -1 -> -0.2
    ]
    judge = ScriptedJudge("Judgement: 1", "1", "Judgement: 0", "1")  # the long one is never asked
    got = _deepeyes(texts, ["vstar"] * 5, ["The countertop is tan."] * 5, [1, 0, 1, 2, 1], judge)
    assert got == pytest.approx([2.0, 0.8, 0.0, 1.8, -0.2])
    assert len(judge.requests) == 4 and "[Model_answer] : tan\nJudgement:" in judge.requests[0].prompt
    assert "[Question]: Q\n" in judge.requests[0].prompt  # extra_info.question, the bare question
    # No judge: the rule fallback cannot accept "tan" for "The countertop is tan." (labelled).
    assert _deepeyes(texts[:1], ["vstar"], ["The countertop is tan."], [1]) == [0.0]
    assert _deepeyes(texts[:1], ["vstar"], ["tan"], [1]) == [pytest.approx(2.0)]


def test_deepeyes_math_rows_by_hand():
    texts = [
        "<think>2+2</think> so \\boxed{4}",  # math-verify matches: 1.2
        "<think>2+2</think> \\boxed{3} or \\boxed{4}",  # two boxes: format -1; last is right -> 1.2 - 0.4
        "<think>hmm</think> four",  # no box: acc 0, format -1 -> -0.4
        "<think>x</think> \\boxed{2^2}",  # rule misses? math-verify: 2^2 = 4 -> 1.2
        "<think>x</think> \\boxed{IV}",  # rule misses, the math judge says TRUE -> 1.2
    ]
    judge = ScriptedJudge("## Equivalence Judgement\nTRUE")
    got = _deepeyes(texts, ["thinklite_eureka"] * 5, ["4"] * 5, [0] * 5, judge)
    assert got == pytest.approx([1.2, 0.8, -0.4, 1.2, 1.2])
    assert len(judge.requests) == 1 and "## Student Final Answer\nIV" in judge.requests[0].prompt
    assert deepeyes_format_reward(texts, metadata=[{"data_source": "thinklite_eureka"}] * 5) == [
        0.0,
        -1.0,
        -1.0,
        0.0,
        0.0,
    ]


def test_deepeyes_judge_failure_is_counted_not_scored():
    judge = ScriptedJudge("no idea")
    assert _deepeyes(["<think>z</think><answer>tan</answer>"], ["chart"], ["tan"], [1], judge) == [None]


def test_parse_verdict_reads_the_recipes_reply_formats():
    assert parse_verdict('{"Correctness": 1}') is True and parse_verdict('{"Consistency": 0}') is False
    assert parse_verdict('```json\n{"Correctness": 0}\n```') is False
    assert parse_verdict("## Equivalence Judgement\nTRUE") is True
    assert parse_verdict("## Equivalence Judgement\nFALSE") is False
