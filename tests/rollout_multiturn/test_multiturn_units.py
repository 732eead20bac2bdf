"""Fast checks of the multi-turn loop's pieces: stop cutting, metrics, configuration errors."""

from __future__ import annotations

import pytest

from vrl.errors import ConfigError
from vrl.model import TinyQwen25VL
from vrl.policy.trajectory import Trajectory
from vrl.rollout.hf import HFRolloutEngine
from vrl.rollout.multiturn import MultiTurnRollout, cut_at_stop, tool_metrics
from vrl.tool import CodeTool, ZoomTool


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    spec = TinyQwen25VL()
    corpus = ["abc</code> and <answer>1</answer>", "more text to train merges"]
    return spec.load(spec.resolve(tmp_path_factory.mktemp("tiny"), corpus)).processor.tokenizer


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
    with pytest.raises(ConfigError, match="sandbox"):
        MultiTurnRollout(HFRolloutEngine(), CodeTool())
    with pytest.raises(ConfigError, match="rollout engine"):
        MultiTurnRollout(None, ZoomTool())
    with pytest.raises(ConfigError, match="max_turns"):
        MultiTurnRollout(HFRolloutEngine(), ZoomTool(), max_turns=0)
    loop = MultiTurnRollout(HFRolloutEngine(), ZoomTool())
    with pytest.raises(ConfigError, match="rethink"):
        loop.continue_fn(None, None)([("trajectory", "prefix")], 1.0)
    assert loop.continue_fn(None, None)([], 1.0) == []  # rethink=none asks for nothing
