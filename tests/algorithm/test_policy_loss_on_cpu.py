"""Clipped policy losses against hand-computed values (old log-prob 0, so ratio = exp(log_prob))."""

import math

import pytest
import torch

from vrl.algorithm import dual_clip_loss, gspo_loss, ppo_clip_loss, seq_mean_token_mean


def _log(ratios):
    return torch.tensor(ratios).log().requires_grad_(True)


def test_ppo_clip_both_bounds():
    # row 0, A = +1, ratios [1.5, 0.5]: max(-1.5, -1.2) = -1.2 (upper clip active); max(-0.5, -0.8) = -0.5
    # row 1, A = -1, ratios [0.5, 1.5]: max(0.5, 0.8) = 0.8 (lower clip active); max(1.5, 1.2) = 1.5
    log_probs = _log([[1.5, 0.5], [0.5, 1.5]])
    loss, m = ppo_clip_loss(log_probs, torch.zeros(2, 2), torch.tensor([1.0, -1.0]), torch.ones(2, 2))
    torch.testing.assert_close(loss, torch.tensor([[-1.2, -0.5], [0.8, 1.5]]))
    assert m["clip_frac"].item() == pytest.approx(0.5)  # 2 of 4 tokens
    assert m["clip_frac_high"].item() == pytest.approx(0.25)
    assert m["clip_frac_low"].item() == pytest.approx(0.25)
    # gradient: clipped tokens get none; d(-A r)/d log r = -A r -> row0 tok1: -0.5, row1 tok1: +1.5
    loss.sum().backward()
    torch.testing.assert_close(log_probs.grad, torch.tensor([[0.0, -0.5], [0.0, 1.5]]))


def test_ppo_clip_higher_and_mask():
    # eps_high 0.35: ratio 1.5 with A = +1 clips at 1.35 -> -1.35. Masked token -> 0, not counted.
    log_probs = _log([[1.5, 0.5], [0.5, 1.5]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss, m = ppo_clip_loss(log_probs, torch.zeros(2, 2), torch.tensor([1.0, -1.0]), mask, 0.2, 0.35)
    torch.testing.assert_close(loss, torch.tensor([[-1.35, -0.5], [0.8, 0.0]]))
    assert m["clip_frac"].item() == pytest.approx(2 / 3)


def test_token_level_advantages_are_accepted():
    # [B, T] advantages: token (0,1) has A = -1, ratio 0.5 -> max(0.5, 0.8) = 0.8
    log_probs = _log([[1.0, 0.5]])
    loss, _ = ppo_clip_loss(log_probs, torch.zeros(1, 2), torch.tensor([[2.0, -1.0]]), torch.ones(1, 2))
    torch.testing.assert_close(loss, torch.tensor([[-2.0, 0.8]]))


def test_dual_clip_caps_negative_advantages():
    # A = -1, ratio 5: ppo = max(5, 1.2) = 5 > cap 3 * 1 -> 3.  ratio 2: 2 < 3 -> 2.
    # A = +1, ratio 5: max(-5, -1.2) = -1.2, no dual clip for positive advantages.
    log_probs = _log([[5.0, 2.0], [5.0, 1.0]])
    loss, m = dual_clip_loss(
        log_probs, torch.zeros(2, 2), torch.tensor([-1.0, 1.0]), torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    )
    torch.testing.assert_close(loss, torch.tensor([[3.0, 2.0], [-1.2, 0.0]]))
    assert m["dual_clip_frac"].item() == pytest.approx(1 / 3)
    loss.sum().backward()
    assert log_probs.grad[0, 0].item() == 0.0  # the capped token is constant in the ratio


def test_gspo_sequence_ratio_is_geometric_mean_over_mask():
    # row 0: log-ratios [0.5, -0.5] -> mean 0 -> s = 1 -> loss -1 per token (A = +1)
    # row 1: log-ratios [0.2, 0.4], mask [1, 0] -> mean 0.2 -> s = e^0.2 = 1.221403, < 1 + 0.3: unclipped
    log_probs = torch.tensor([[0.5, -0.5], [0.2, 0.4]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss, m = gspo_loss(log_probs, torch.zeros(2, 2), torch.tensor([1.0, 1.0]), mask, 0.3, 0.3)
    torch.testing.assert_close(loss, torch.tensor([[-1.0, -1.0], [-math.exp(0.2), 0.0]]))
    assert m["seq_ratio_mean"].item() == pytest.approx((1 + math.exp(0.2)) / 2, abs=1e-6)


def test_gspo_clips_the_sequence_ratio_and_spreads_gradient():
    # log-ratios [0.2, 0.4] -> s = e^0.3 = 1.349859 > 1 + 0.2 -> clipped: -1.2 on both tokens, no gradient
    clipped, m = gspo_loss(
        torch.tensor([[0.2, 0.4]]), torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2), 0.2, 0.2
    )
    torch.testing.assert_close(clipped, torch.tensor([[-1.2, -1.2]]))
    assert m["clip_frac"].item() == 1.0
    # unclipped, s = 1, A = 1: seq-mean-token-mean of -s_t; d/d logp_t = -s / |y| = -0.5 on each token
    log_probs = torch.tensor([[0.5, -0.5]], requires_grad=True)
    loss, _ = gspo_loss(log_probs, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2))
    seq_mean_token_mean(loss, torch.ones(1, 2)).backward()
    torch.testing.assert_close(log_probs.grad, torch.tensor([[-0.5, -0.5]]))
