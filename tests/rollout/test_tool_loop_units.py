"""Fast checks of the tool loop's pieces: stop cutting, metrics, configuration errors."""

from __future__ import annotations

import pytest

from vrl.errors import ConfigError
from vrl.policy.tokens import cut_at_stop
from vrl.policy.trajectory import Trajectory
from vrl.rollout import HFRolloutEngine, ToolLoop
from vrl.rollout.tool_loop import tool_metrics
from vrl.tool import CodeTool, ZoomTool


@pytest.fixture(scope="module")
def tokenizer(tiny_models):
    return tiny_models.processor(["abc</code> and <answer>1</answer>", "more text to train merges"]).tokenizer


def test_cut_at_stop_keeps_tokens_up_to_the_earliest_stop(tokenizer):
    ids = tokenizer("abc</code>", add_special_tokens=False)["input_ids"]
    more = tokenizer(" then <answer>1</answer>", add_special_tokens=False)["input_ids"]
    pad = tokenizer.pad_token_id

    def decode(x):
        return tokenizer.decode(x, skip_special_tokens=True)

    # The padding a batched generate writes after a stopped row is dropped.
    assert cut_at_stop([*ids, pad, pad], decode, ["</answer>", "</code>"]) == (ids, "</code>")
    assert cut_at_stop([*ids, *more], decode, ["</answer>", "</code>"]) == (ids, "</code>")
    assert cut_at_stop(ids, decode, ["</answer>"]) == (ids, None)


def test_tool_metrics():
    def traj(calls, errors):
        return Trajectory(0, 0, None, [1], [2], [1], "", True, tool_calls=calls, tool_errors=errors)

    assert tool_metrics([traj(2, 1), traj(0, 0), traj(1, 0), traj(1, 1)]) == {
        "tool/calls_per_traj": 1.0,
        "tool/error_rate": 0.5,
        "tool/traj_with_call_frac": 0.75,
    }
    assert tool_metrics([traj(0, 0)])["tool/error_rate"] == 0.0


def test_misconfiguration_is_a_config_error():
    with pytest.raises(ConfigError, match="tool=code runs code and needs a sandbox: add sandbox=local"):
        HFRolloutEngine(tool_loop=ToolLoop(CodeTool()))
    for key in ("max_turns", "max_images", "max_total_tokens", "max_workers"):
        with pytest.raises(ConfigError, match=f"rollout.tool_loop.{key}=0 must be >= 1"):
            ToolLoop(ZoomTool(), **{key: 0})
    with pytest.raises(ConfigError, match="rollout.tool_loop.code_sampling.temperature=-1"):
        ToolLoop(CodeTool(), code_sampling={"temperature": -1})
    assert ToolLoop(CodeTool()).code_sampling == {"temperature": 0.0}  # Thyme: greedy code
    assert HFRolloutEngine(tool_loop=ToolLoop(ZoomTool())).tool_loop is not None  # zoom runs no code
