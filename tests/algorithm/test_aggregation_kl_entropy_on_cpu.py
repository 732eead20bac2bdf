"""Aggregation, KL estimators, entropy and log-probs against hand-computed values."""

import math

import pytest
import torch

from vrl.algorithm import (
    kl_divergence,
    kl_k1,
    kl_k2,
    kl_k3,
    kl_reward_penalty,
    seq_mean_token_mean,
    seq_mean_token_sum,
    token_mean,
)
from vrl.policy.logits import entropy_from_logits, log_probs_and_entropy, log_probs_from_logits

LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_aggregations_by_hand():
    assert token_mean(LOSS, MASK).item() == pytest.approx(7 / 3)  # (1 + 2 + 4) / 3 tokens
    assert seq_mean_token_mean(LOSS, MASK).item() == pytest.approx(2.75)  # ((1+2)/2 + 4/1) / 2
    assert seq_mean_token_sum(LOSS, MASK).item() == pytest.approx(3.5)  # ((1+2) + 4) / 2


def test_micro_batches_with_global_counts_add_up_to_the_full_batch():
    # micro-batch 1 = row 0 (2 tokens), micro-batch 2 = row 1 (1 token); step totals: 3 tokens, 2 seqs
    # token_mean: 3/3 + 4/3 = 7/3 ; seq_mean_token_mean: 1.5/2 + 4/2 = 2.75 ; seq_mean_token_sum: 3/2 + 4/2
    for aggregate in (token_mean, seq_mean_token_mean, seq_mean_token_sum):
        parts = sum(
            aggregate(LOSS[i : i + 1], MASK[i : i + 1], global_token_count=3, global_seq_count=2)
            for i in range(2)
        )
        assert parts.item() == pytest.approx(aggregate(LOSS, MASK).item())


def test_empty_mask_gives_zero_not_nan():
    assert token_mean(LOSS, torch.zeros_like(MASK)).item() == 0.0


def test_kl_estimators_by_hand():
    # log pi = ln 0.5, log ref = ln 0.25: d = ln 2 = 0.693147
    # k1 = 0.693147 ; k2 = 0.5 * 0.693147^2 = 0.240227 ; k3 = e^-d + d - 1 = 0.5 + 0.693147 - 1 = 0.193147
    lp, ref = torch.tensor([[math.log(0.5)]]), torch.tensor([[math.log(0.25)]])
    assert kl_k1(lp, ref).item() == pytest.approx(0.693147, abs=1e-6)
    assert kl_k2(lp, ref).item() == pytest.approx(0.240227, abs=1e-6)
    assert kl_k3(lp, ref).item() == pytest.approx(0.193147, abs=1e-6)
    # swapped: x = ref - lp = ln 2: k1 = -0.693147 ; k3 = 2 - 0.693147 - 1 = 0.306853 (k3 >= 0 always)
    assert kl_k1(ref, lp).item() == pytest.approx(-0.693147, abs=1e-6)
    assert kl_divergence(ref, lp, "k3").item() == pytest.approx(0.306853, abs=1e-6)
    with pytest.raises(ValueError):
        kl_divergence(lp, ref, "k4")


def test_kl_reward_penalty_sums_masked_kl():
    # row 0: 0.1 + 0.2 = 0.3 -> 1 - 0.5 * 0.3 = 0.85 ; row 1: 1.5 -> 0 - 0.75 = -0.75
    kl = torch.tensor([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    out = kl_reward_penalty(torch.tensor([1.0, 0.0]), kl, mask, beta=0.5)
    torch.testing.assert_close(out, torch.tensor([0.85, -0.75]))


def test_entropy_and_log_probs_from_logits():
    # uniform over 4: H = ln 4 = 1.386294 ; p = [0.25, 0.75]: H = 0.25 ln 4 + 0.75 ln(4/3) = 0.562335
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), -1e9, -1e9]]])
    torch.testing.assert_close(
        entropy_from_logits(logits), torch.tensor([[1.386294, 0.562335]]), atol=1e-5, rtol=0
    )
    # token 1 of the second position: ln 0.75 = -0.287682 ; token 0 of the first: ln 0.25 = -1.386294
    lp = log_probs_from_logits(logits, torch.tensor([[0, 1]]))
    torch.testing.assert_close(lp, torch.tensor([[-1.386294, -0.287682]]), atol=1e-5, rtol=0)
    # One pass for both (the update's): the same numbers; an entropy that is only logged keeps
    # no graph, the log-probs do.
    leaf = logits.clone().requires_grad_(True)
    lp_once, entropy_once = log_probs_and_entropy(leaf, torch.tensor([[0, 1]]), entropy_grad=False)
    torch.testing.assert_close(lp_once, lp.detach(), atol=0, rtol=0)
    torch.testing.assert_close(entropy_once, entropy_from_logits(logits), atol=0, rtol=0)
    assert lp_once.requires_grad and not entropy_once.requires_grad
    assert log_probs_and_entropy(leaf, torch.tensor([[0, 1]]))[1].requires_grad


def test_k3_is_clamped_as_verl_does():
    # x = ref - lp = 30 nats: unclamped k3 = e^30 - 31 ~ 1.07e13; verl clamps x to 20 first
    # (e^20 - 21 ~ 4.85e8) and then k3 to 10, so the token contributes 10.
    lp, ref = torch.tensor([[-30.0, math.log(0.5)]]), torch.tensor([[0.0, math.log(0.25)]])
    raw = kl_k3(lp, ref)
    assert raw[0, 0].item() == pytest.approx(math.exp(30) - 31, rel=1e-5)
    assert kl_k3(lp, ref, log_ratio_clamp=20.0)[0, 0].item() == pytest.approx(math.exp(20) - 21, rel=1e-5)
    clamped = kl_divergence(lp, ref, "k3", log_ratio_clamp=20.0, clamp=10.0)
    assert clamped[0, 0].item() == 10.0
    assert clamped[0, 1].item() == pytest.approx(raw[0, 1].item())  # in range: untouched
    # The other direction: x = -30 -> k3 = e^-30 + 30 - 1 ~ 29, clamped to 10 (x itself to -20 first).
    assert kl_divergence(ref, lp, "k3", log_ratio_clamp=20.0, clamp=10.0)[0, 0].item() == 10.0
    # k1 and k2 have no exponential: the clamps do not apply to them (verl clamps low_var_kl only).
    assert kl_divergence(lp, ref, "k2", log_ratio_clamp=20.0, clamp=10.0)[0, 0].item() == pytest.approx(450.0)
    # A clamped token has no gradient (a value clamp, as in verl).
    lp_grad = lp.clone().requires_grad_(True)
    kl_divergence(lp_grad, ref, "k3", log_ratio_clamp=20.0, clamp=10.0).sum().backward()
    assert lp_grad.grad[0, 0].item() == 0.0 and lp_grad.grad[0, 1].item() != 0.0


def test_algorithm_kl_uses_its_configured_clamps():
    from vrl.algorithm import Algorithm, grpo_advantages, ppo_clip_loss
    from vrl.errors import ConfigError

    lp, ref = torch.tensor([[-30.0]]), torch.tensor([[0.0]])
    clamped = Algorithm(grpo_advantages, ppo_clip_loss, kl_estimator="k3", kl_coef=0.04)
    assert (clamped.kl_log_ratio_clamp, clamped.kl_clamp) == (20.0, 10.0)  # verl's, by default
    assert clamped.kl(lp, ref).item() == 10.0
    unclamped = Algorithm(
        grpo_advantages,
        ppo_clip_loss,
        kl_estimator="k3",
        kl_coef=0.04,
        kl_log_ratio_clamp=None,
        kl_clamp=None,
    )
    assert unclamped.kl(lp, ref).item() == pytest.approx(math.exp(30) - 31, rel=1e-5)
    with pytest.raises(ConfigError, match="kl_clamp"):
        Algorithm(grpo_advantages, ppo_clip_loss, kl_clamp=0.0)
