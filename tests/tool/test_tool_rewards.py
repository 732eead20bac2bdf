"""Tool rewards (code_exec, tool_bonus, consistency) and the V-Thinker / DeepEyes pools as composed."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate
from vrl_testing import compose

from vrl.reward import code_exec_reward, consistency_reward, tool_bonus_reward
from vrl.reward.consistency import reasoning_tail


def test_code_exec_is_the_share_of_calls_without_error():
    out = code_exec_reward(["a", "b", "c"], tool_calls=[3, 2, 0], tool_errors=[1, 0, 0], no_call=-0.5)
    assert out == [2 / 3, 1.0, -0.5]


def test_tool_bonus_needs_a_tool_image_and_a_right_answer():
    completions = ["<answer>3</answer>", "<answer>3</answer>", "<answer>4</answer>"]
    out = tool_bonus_reward(
        completions, answer=["3", "3", "3"], tool_images=[1, 0, 2], answer_type=["integer"] * 3
    )
    assert out == [1.0, 0.0, 0.0]


class _Judge:
    """A stand-in judge with fixed verdicts (the real ones need a served model)."""

    def __init__(self, verdicts):
        self.verdicts, self.requests = verdicts, []

    def judge_many(self, requests):
        self.requests += requests
        return self.verdicts[: len(requests)]


def test_consistency_rule_judge_and_fallback():
    agree = "<think>two plus one is 3</think> <answer>3</answer>"
    differ = "<think>so the count is 5</think> <answer>3</answer>"
    tool = "<think>count<sandbox_output>3</sandbox_output> I see four</think><answer>3</answer>"
    assert consistency_reward([agree, differ, tool, "no answer"]) == [1.0, 0.0, 0.0, 0.0]
    assert "sandbox_output" not in reasoning_tail(tool)
    # a code call's digits are not a conclusion: "box[3]" must not make the answer 3 consistent
    code = "<think>zoom in</think><code>\n```python\nbox = (0, 0, 2, 3)\n```\n</code><sandbox_output>x</sandbox_output>"
    zoom = '<tool_call>{"bbox_2d": [1, 2, 3, 4]}</tool_call>'
    assert consistency_reward([code + "<answer>3</answer>", zoom + "<answer>3</answer>"]) == [0.0, 0.0]
    assert "box" not in reasoning_tail(code + "<answer>3</answer>")
    judge = _Judge([False, None])  # a None verdict falls back to the rule
    assert consistency_reward([agree, agree], judge=judge) == [0.0, 1.0]
    assert judge.requests[0].extracted == "3" and "two plus one is 3" in judge.requests[0].gold


def test_paper_pools_compose_with_their_weights():
    vthinker = compose(["reward=vthinker", "reward.pool.num_workers=0"]).reward
    assert dict(vthinker.weights) == {"format": 0.5, "accuracy": 1.0, "consistency": 0.5, "code_exec": 0.3}
    pool = instantiate(vthinker, _convert_="all")
    text = "<think>I ran code; the count is 3</think> <answer>3</answer>"
    fields = {
        "answer": ["3"],
        "answer_type": ["integer"],
        "tool_calls": [2],
        "tool_errors": [1],
        "tool_images": [1],
    }
    assert pool([text], **fields).total == [0.5 + 1.0 + 0.5 + 0.3 * 0.5]
    deepeyes_cfg = compose(["reward=deepeyes", "reward.pool.num_workers=0"]).reward
    term = deepeyes_cfg.functions.deepeyes
    assert (term.acc_weight, term.format_weight, term.tool_weight) == (0.8, 0.2, 1.2)
    deepeyes = instantiate(deepeyes_cfg, _convert_="all")
    assert deepeyes.weights == {"deepeyes": 1.0, "format": 0.0, "accuracy": 0.0}
    # acc 1 (rule fallback; no judge here), format fine (0), a tool image came back: 0.8 + 1.2
    assert deepeyes([text], **fields).total == [pytest.approx(0.8 + 1.2)]
    assert deepeyes([text], **{**fields, "tool_images": [0]}).total == [pytest.approx(0.8)]
    unbalanced = "<think>the count is 3 <answer>3</answer>"  # format -1: 0.8 - 0.2 + 1.2
    assert deepeyes([unbalanced], **fields).total == [pytest.approx(1.8)]
