"""Fast checks of the tool loop's pieces: stop cutting, metrics, configuration errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vrl.data.schema import Sample
from vrl.errors import ConfigError
from vrl.policy.continuation import Continuation
from vrl.policy.sampling import Sampling
from vrl.policy.tokens import cut_at_stop
from vrl.policy.trajectory import Trajectory
from vrl.rollout import HFRolloutEngine, ToolLoop
from vrl.rollout.tool_loop import tool_metrics
from vrl.tool import CodeTool, ZoomTool
from vrl.tool.base import ToolResult


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


class _CharTokenizer:
    """One token per character (id = code point), so cuts are easy to count by hand."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


class _EchoTool:
    name, call_open, stop, result_open, result_close, needs_sandbox = (
        "echo",
        "<c>",
        "</c>",
        "<r>",
        "</r>",
        False,
    )

    def execute(self, call, images, session_id, sandbox=None):
        return ToolResult(text="ok")

    def close_session(self, session_id, sandbox=None):
        pass


def _log_probs(text: str, scale: float) -> list[float]:
    return [-scale * (i + 1) for i in range(len(text))]


class _ReportingEngine:
    """Round 1 writes a call and 2 tokens past its stop; round 2 answers. Every segment comes
    with log-probs, except round 2 of sample "b"."""

    FIRST, SECOND = "x<c>1</c>yy", "<answer>2</answer>"

    def sample_trajectories(
        self, model, processor, samples, n, sampling, step, first_group_id, image_cache=None
    ):
        ids = [ord(c) for c in self.FIRST]
        return [
            Trajectory(
                i,
                i,
                s,
                [1],
                ids,
                [1] * len(ids),
                self.FIRST,
                True,
                sampling_log_probs=_log_probs(self.FIRST, 0.01),
            )
            for i, s in enumerate(samples)
        ]

    def continue_trajectories(self, model, processor, items, sampling):
        ids = [ord(c) for c in self.SECOND]
        return [
            Continuation(
                self.SECOND, ids, True, [], _log_probs(self.SECOND, 0.1) if t.sample.id == "a" else None
            )
            for t, _ in items
        ]


def test_engine_log_probs_follow_the_segments_and_tool_output_gets_zeros():
    samples = [Sample(id=i, images=[], prompt=[{"role": "user", "content": "q"}], answer="2") for i in "ab"]
    processor = SimpleNamespace(tokenizer=_CharTokenizer())
    a, b = ToolLoop(_EchoTool()).run(_ReportingEngine(), None, processor, samples, 1, Sampling(), None)
    # a: "x<c>1</c>" (9 policy tokens; "yy" cut at the stop) + "<r>ok</r>" (9 tool tokens) + the answer (18)
    assert a.text == "x<c>1</c><r>ok</r><answer>2</answer>" and a.loss_mask == [1] * 9 + [0] * 9 + [1] * 18
    assert a.sampling_log_probs == _log_probs("x<c>1</c>", 0.01) + [0.0] * 9 + _log_probs(a.text[18:], 0.1)
    assert len(a.sampling_log_probs) == len(a.response_ids)
    # b: its second segment came without log-probs, so it has no record at all (never a partial one)
    assert b.response_ids == a.response_ids and b.sampling_log_probs is None
