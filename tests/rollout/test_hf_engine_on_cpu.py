"""`HFRolloutEngine.rollout` / `continue_fn` on the tiny model: layout, EOS, and the log-probs the
RL side computes for what it sampled; every test for both decode loops, `model.generate` (`hf`)
and vrl's own (`fast`, `vrl.policy.fast_decode`)."""

from __future__ import annotations

import pytest
import torch
from vrl_testing import hf_engine

from vrl.policy.continuation import Continuation
from vrl.policy.images import image_inputs
from vrl.policy.log_probs import response_log_probs
from vrl.policy.tokens import eos_token_ids


@pytest.fixture(params=["hf", "fast"])
def engine_name(request) -> str:
    return request.param


def _fresh_log_probs(model, processor, trajectory, temperature):
    """log p(response token t) from one unpadded forward over prompt + response."""
    ids = torch.tensor([trajectory.prompt_ids + trajectory.response_ids])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    inputs.update(image_inputs(model, processor, [trajectory.sample], ids))
    with torch.no_grad():
        logits = model(**inputs).logits[0].float() / temperature
    p = len(trajectory.prompt_ids)
    scored = logits[p - 1 : p + len(trajectory.response_ids) - 1]
    return torch.log_softmax(scored, -1).gather(-1, torch.tensor(trajectory.response_ids)[:, None])[:, 0]


def test_rollout_trajectories_and_their_log_probs_match_a_fresh_forward(tiny, samples, engine_name):
    model, processor = tiny.model, tiny.processor
    torch.manual_seed(0)
    engine = hf_engine(batch_size=2, max_new_tokens=12, engine=engine_name)
    trajs = engine.rollout(model, processor, samples[:3], n=2, step=5, first_group_id=10, temperature=0.7)
    assert all(t.old_log_probs is None for t in trajs)  # engines sample; the RL side scores
    log_probs = response_log_probs(model, processor, trajs, 0.7, micro_batch_size=4)
    assert len(trajs) == 6
    assert [t.prompt_index for t in trajs] == [0, 0, 1, 1, 2, 2]  # samples-major
    assert [t.group_id for t in trajs] == [10, 10, 11, 11, 12, 12]
    assert all(t.step == 5 and not t.forced for t in trajs)
    eos = eos_token_ids(model, processor)
    image_token = model.config.image_token_id
    for t, row in zip(trajs, log_probs):
        assert t.sample is samples[t.prompt_index]
        assert t.prompt_ids.count(image_token) > 1  # image placeholder expanded
        assert processor.tokenizer.pad_token_id not in t.prompt_ids  # left padding removed
        assert t.loss_mask == [1] * len(t.response_ids)
        assert t.finished == (t.response_ids[-1] in eos)
        assert not any(tok in eos for tok in t.response_ids[:-1])  # cut at the first EOS
        assert t.finished or len(t.response_ids) == 12
        fresh = _fresh_log_probs(model, processor, t, 0.7)
        assert torch.allclose(torch.tensor(row), fresh, atol=1e-4)
        if engine_name == "hf":
            assert t.sampling_log_probs is None
        else:  # the trainer's own numbers, at the run's temperature (1.0), not the call's (0.7)
            at_run_temperature = _fresh_log_probs(model, processor, t, 1.0)
            assert torch.allclose(torch.tensor(t.sampling_log_probs), at_run_temperature, atol=1e-5)
    assert model.training is False or model.training is True  # mode restored, whatever it was


def test_continue_fn_generates_after_prompt_plus_prefix(tiny, samples, engine_name):
    model, processor = tiny.model, tiny.processor
    torch.manual_seed(0)
    engine = hf_engine(max_new_tokens=6, engine=engine_name)
    [traj] = engine.rollout(model, processor, samples[:1], n=1, temperature=1.0)
    outs = engine.continue_fn(model, processor)([(traj, "ab\n\nWait"), (traj, "c")], temperature=0.9)
    assert len(outs) == 2 and all(isinstance(o, Continuation) for o in outs)
    prefix_ids = processor.tokenizer("ab\n\nWait", add_special_tokens=False)["input_ids"]
    assert outs[0].prefix_ids == prefix_ids
    for out in outs:
        assert 1 <= len(out.token_ids) <= 6
        assert out.finished == (out.token_ids[-1] in eos_token_ids(model, processor))


def test_rollout_at_temperature_zero_is_greedy_decoding(tiny, samples, engine_name):
    """Eval's multi-turn loop rolls out greedily: the same texts as greedy `generate` (the RL
    stage refuses greedy rollouts before it starts: tests/rl)."""
    model, processor = tiny.model, tiny.processor
    engine = hf_engine(batch_size=2, max_new_tokens=8, engine=engine_name)
    greedy = engine.rollout(model, processor, samples[:2], n=1, temperature=0.0)
    assert [t.text for t in greedy] == engine.generate(model, processor, samples[:2], temperature=0.0)
    # n > 1 greedy repeats each prompt's one answer (HF `generate` itself refuses this)
    repeated = engine.rollout(model, processor, samples[:2], n=3, temperature=0.0)
    assert [t.text for t in repeated] == [t.text for t in greedy for _ in range(3)]
    assert [t.group_id for t in repeated] == [0, 0, 0, 1, 1, 1]


def test_calls_override_the_engine_sampling_and_unknown_keys_are_refused(tiny, samples, engine_name):
    from vrl.errors import ConfigError

    engine = hf_engine(batch_size=2, max_new_tokens=3, temperature=0.0, engine=engine_name)
    [short] = engine.rollout(tiny.model, tiny.processor, samples[:1], n=1)
    assert len(short.response_ids) <= 3
    [longer] = engine.rollout(tiny.model, tiny.processor, samples[:1], n=1, max_new_tokens=9)
    assert longer.response_ids[: len(short.response_ids)] == short.response_ids
    with pytest.raises(ConfigError, match="sampling has no temprature"):
        engine.rollout(tiny.model, tiny.processor, samples[:1], n=1, temprature=0.5)


def test_the_fast_loop_draws_the_same_samples_as_generate_under_one_seed(tiny, samples, monkeypatch):
    """With the chooser's draw set to PyTorch's own exponential race (what its one-sample
    `multinomial`, and so `generate`, computes; the fast loop's own draw has the same distribution
    from cheaper uniforms, tested in tests/policy), both consume the generator alike, so one seed
    gives the same rollouts from the random-init (high-entropy) model: any difference in the
    fast loop's logits, prefill, repeats, masks or stopping would show as other tokens."""
    from vrl.policy.token_chooser import TokenChooser

    def multinomial_race(probs):
        return probs.div_(torch.empty_like(probs).exponential_()).argmax(dim=-1)

    monkeypatch.setattr(TokenChooser, "draw", staticmethod(multinomial_race))
    drawn = {}
    for name in ("hf", "fast"):
        torch.manual_seed(3)
        engine = hf_engine(batch_size=4, max_new_tokens=10, top_k=50, engine=name)
        trajectories = engine.rollout(tiny.model, tiny.processor, samples[:4], n=4, temperature=1.3)
        drawn[name] = [(t.response_ids, t.finished) for t in trajectories]
    assert len({tuple(ids) for ids, _ in drawn["hf"]}) > 8  # really sampled
    assert drawn["fast"] == drawn["hf"]
