"""The multi-turn loop on the real tiny model: calls run, results are masked, images ride along.

Slow lane: the `tool_policy` fixture fine-tunes the tiny model to call the tools (minutes on 2 cores)."""

from __future__ import annotations

import pytest
import torch
from tool_calls import ANSWER, CODE_CALL, ZOOM_CALL

from vrl.policy.log_probs import policy_inputs, response_log_probs, response_logits, token_log_probs
from vrl.policy.sampling import Sampling
from vrl.rollout import HFRolloutEngine, ToolLoop
from vrl.rollout.tool_loop import tool_metrics
from vrl.sandbox import make_sandbox
from vrl.tool import CodeTool, ZoomTool

pytestmark = pytest.mark.slow


def _engine(tool, sandbox=None, max_new_tokens=64, engine=HFRolloutEngine, **loop) -> HFRolloutEngine:
    """An hf engine whose rollouts run the tool loop (as `tool=<option>` configures it)."""
    return engine(
        batch_size=4,
        sampling=Sampling(max_new_tokens=max_new_tokens),
        tool_loop=ToolLoop(tool, **loop),
        sandbox=sandbox,
    )


def _zoom(**loop) -> HFRolloutEngine:
    return _engine(ZoomTool(), **loop)


def _masked_text(tokenizer, trajectory, keep: int) -> str:
    ids = [i for i, m in zip(trajectory.response_ids, trajectory.loss_mask) if m == keep]
    return tokenizer.decode(ids, skip_special_tokens=False)


def test_zoom_call_runs_and_its_result_is_masked(tool_policy, tool_samples):
    model, processor = tool_policy.model, tool_policy.processor
    sample = tool_samples[0]
    [t] = _zoom().rollout(model, processor, [sample], 1, temperature=0.0)
    assert t.text == ZOOM_CALL + "<tool_response></tool_response>" + ANSWER.format(answer=sample.answer)
    assert (t.tool_calls, t.tool_errors, t.finished) == (1, 0, True)
    assert len(t.tool_images) == 1 and t.tool_images[0].size == (40, 40)
    assert len(t.images) == 2  # the prompt's image, then the crop
    # Exactly the environment's tokens are masked out: tags plus the crop's image tokens.
    masked = _masked_text(processor.tokenizer, t, 0)
    assert masked.startswith("<tool_response><|vision_start|><|image_pad|>")
    assert masked.endswith("<|vision_end|></tool_response>")
    assert _masked_text(processor.tokenizer, t, 1) == ZOOM_CALL + ANSWER.format(answer=sample.answer)
    assert t.old_log_probs is None and len(response_log_probs(model, processor, [t])[0]) == len(
        t.response_ids
    )
    assert tool_metrics([t]) == {
        "tool/calls_per_traj": 1.0,
        "tool/error_rate": 0.0,
        "tool/traj_with_call_frac": 1.0,
    }


def test_limits_end_the_response_at_the_call(tool_policy, tool_samples):
    model, processor = tool_policy.model, tool_policy.processor
    [one_round] = _zoom(max_turns=1).rollout(model, processor, tool_samples[:1], 1, temperature=0.0)
    assert one_round.text == ZOOM_CALL and one_round.tool_calls == 0 and not one_round.finished
    [no_room] = _zoom(max_images=1).rollout(model, processor, tool_samples[:1], 1, temperature=0.0)
    assert no_room.tool_calls == 0 and not no_room.finished
    budget = len(one_round.prompt_ids) + len(one_round.response_ids) + 3
    [tight] = _zoom(max_total_tokens=budget).rollout(model, processor, tool_samples[:1], 1, temperature=0.0)
    assert tight.tool_calls == 1 and tight.response_ids == one_round.response_ids  # no room for the result


def test_code_call_through_the_sandbox_with_and_without_ats(tool_policy, tool_samples):
    model, processor = tool_policy.model, tool_policy.processor
    sample = tool_samples[1]
    with make_sandbox("auto", workers=1) as sandbox:
        for ats in (False, True):
            engine = _engine(CodeTool(), sandbox, max_new_tokens=96, ats=ats)
            [t] = engine.rollout(model, processor, [sample], 1, temperature=0.0)
            expected = CODE_CALL + "<sandbox_output></sandbox_output>" + ANSWER.format(answer=sample.answer)
            assert t.text == expected, ats
            assert (t.tool_calls, t.tool_errors) == (1, 0) and t.tool_images[0].size == (32, 32)
            assert _masked_text(processor.tokenizer, t, 0).startswith("<sandbox_output><|vision_start|>")


def test_sampled_rollouts_and_generate_keep_the_engine_api(tool_policy, tool_samples):
    model, processor = tool_policy.model, tool_policy.processor
    loop = _zoom()  # an engine with the tool loop
    trajectories = loop.rollout(model, processor, tool_samples, 3, step=5, first_group_id=10, temperature=1.0)
    assert [t.group_id for t in trajectories] == [10, 10, 10, 11, 11, 11]
    assert all(t.step == 5 and len(t.loss_mask) == len(t.response_ids) for t in trajectories)
    assert set(loop.last_stats) == {"tool/calls_per_traj", "tool/error_rate", "tool/traj_with_call_frac"}
    texts = loop.generate(model, processor, tool_samples[:1], temperature=0.0)
    assert texts == [
        ZOOM_CALL + "<tool_response></tool_response>" + ANSWER.format(answer=tool_samples[0].answer)
    ]


def test_policy_forward_with_tool_images_trains_only_policy_tokens(tool_policy, tool_samples):
    model, processor = tool_policy.model, tool_policy.processor
    trajectories = _zoom().rollout(model, processor, tool_samples[:1], 2, temperature=0.0)
    batch, inputs = policy_inputs(model, processor, trajectories)
    assert inputs["image_grid_thw"].shape[0] == sum(len(t.images) for t in trajectories) == 4
    assert int(inputs["mm_token_type_ids"].sum()) == int(
        (batch.input_ids == model.config.image_token_id).sum()
    )
    model.train()
    logits = response_logits(model, inputs, batch)
    logits.retain_grad()
    log_probs, _ = token_log_probs(logits, batch.response_ids)
    assert log_probs.shape == batch.loss_mask.shape and torch.isfinite(log_probs).all()
    (log_probs * batch.loss_mask).sum().backward()
    per_token = logits.grad.abs().sum(-1)
    assert (per_token[batch.loss_mask == 0] == 0).all() and (per_token[batch.loss_mask == 1] > 0).all()
    vision = [p for name, p in model.named_parameters() if "visual" in name]
    assert vision and any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in vision
    )  # tool images feed in
    # The rollout's own log-probs equal the training forward's on the policy tokens.
    again = response_log_probs(model, processor, trajectories)
    for row, t in enumerate(trajectories):
        assert torch.allclose(
            torch.tensor(again[row]), log_probs[row, : len(t.response_ids)].detach(), atol=1e-4
        )


class _RecordingEngine(HFRolloutEngine):
    """The real engine, noting the stop strings and temperature of every continuation round."""

    rounds: list[tuple[tuple[str, ...], float, int]]

    def continue_trajectories(self, model, processor, items, sampling):
        self.rounds = [*getattr(self, "rounds", []), (sampling.stop, sampling.temperature, len(items))]
        return super().continue_trajectories(model, processor, items, sampling)


def test_ats_samples_the_code_segment_with_the_code_sampling(tool_policy, tool_samples):
    model, processor = tool_policy.model, tool_policy.processor
    with make_sandbox("auto", workers=1) as sandbox:
        engine = _engine(
            CodeTool(), sandbox, 96, _RecordingEngine, ats=True, code_sampling={"temperature": 0.25}
        )
        [t] = engine.rollout(model, processor, tool_samples[1:], 1, temperature=0.0)
    # Round 1 (text) stopped at <code>; round 2 sampled the code at 0.25 up to </code>; the call
    # ran; round 3 (text) continued after the result at the policy temperature.
    assert engine.rounds[0] == (("</code>",), 0.25, 1)
    assert engine.rounds[1][0][0] == "<code>" and engine.rounds[1][1] == 0.0
    assert t.tool_calls == 1 and t.text.startswith("<code>")


def test_the_fast_engine_runs_the_same_greedy_tool_loop_as_generate(tool_policy, tool_samples):
    """`rollout=fast` continues after a tool turn whose crop sits inside the response (its image
    tokens in the prefill, mRoPE positions past them): the same greedy trajectories as `hf`."""
    from vrl.rollout.fast import FastRolloutEngine

    model, processor = tool_policy.model, tool_policy.processor
    with make_sandbox("auto", workers=1) as sandbox:
        for tool in (ZoomTool(), CodeTool()):
            reference = _engine(tool, sandbox, max_new_tokens=96)
            fast = _engine(tool, sandbox, max_new_tokens=96, engine=FastRolloutEngine)
            expected = reference.rollout(model, processor, tool_samples, 1, temperature=0.0)
            got = fast.rollout(model, processor, tool_samples, 1, temperature=0.0)
            assert sum(t.tool_calls for t in got) >= 1
            assert [(t.text, t.response_ids, t.loss_mask, t.tool_calls) for t in got] == [
                (t.text, t.response_ids, t.loss_mask, t.tool_calls) for t in expected
            ]
            # its log-probs over every segment are the trainer's on the whole response (the RL
            # step adopts them as old log-probs), on the tokens the policy wrote (mask 1)
            trainer = response_log_probs(model, processor, got, fast.sampling.temperature)
            for t, row in zip(got, trainer, strict=True):
                policy = [i for i, m in enumerate(t.loss_mask) if m]
                assert [t.sampling_log_probs[i] for i in policy] == pytest.approx(
                    [row[i] for i in policy], abs=1e-4
                )
