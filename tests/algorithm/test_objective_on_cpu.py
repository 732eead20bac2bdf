"""Auxiliary NLL selection and the combined objective, by hand."""

import functools

import pytest
import torch

from vrl.algorithm import (
    Algorithm,
    group_mean_advantages,
    masked_nll,
    nll_selection,
    policy_objective,
    ppo_clip_loss,
    token_mean,
)
from vrl.errors import ConfigError


def test_nll_selection_needs_positive_advantage_and_a_cue():
    texts = ["Wait, let me check", "no cue here", "Alternatively, x", "wait a moment", "WAIT, sure"]
    adv = torch.tensor([0.5, 0.5, -0.5, 0.0, 0.1])
    assert nll_selection(texts, adv).tolist() == [True, False, False, False, True]


def test_masked_nll_token_mean_over_selected_rows():
    # selected row 0, tokens -1, -2 -> NLL (1 + 2) / 2 = 1.5 ; row 1 ignored
    log_probs = torch.tensor([[-1.0, -2.0], [-3.0, -4.0]], requires_grad=True)
    nll = masked_nll(log_probs, torch.ones(2, 2), torch.tensor([True, False]))
    assert nll.item() == pytest.approx(1.5)
    nll.backward()
    torch.testing.assert_close(log_probs.grad, torch.tensor([[-0.5, -0.5], [0.0, 0.0]]))
    assert masked_nll(log_probs, torch.ones(2, 2), torch.tensor([False, False])).item() == 0.0


def _algorithm(**kwargs):
    return Algorithm(
        advantage=group_mean_advantages,
        policy_loss=functools.partial(ppo_clip_loss, eps_low=0.2, eps_high=0.35),
        aggregation=token_mean,
        **kwargs,
    )


def test_objective_adds_kl_entropy_and_aux_nll():
    # on-policy (ratio 1), A = [+1, -1]: token losses [-1, -1, 1, 1] -> token mean 0
    # k3 KL with ref = log_probs -> 0 ; entropy 2 everywhere, coef 0.01 -> -0.02
    # aux NLL on row 0: (1 + 2) / 2 = 1.5, coef 0.05 -> +0.075 ; total 0.055
    algo = _algorithm(kl_estimator="k3", kl_coef=0.1, entropy_coef=0.01, aux_nll_coef=0.05)
    log_probs = torch.tensor([[-1.0, -2.0], [-3.0, -4.0]], requires_grad=True)
    loss, metrics = policy_objective(
        algo,
        log_probs,
        log_probs.detach(),
        torch.tensor([1.0, -1.0]),
        torch.ones(2, 2),
        ref_log_probs=log_probs.detach(),
        entropy=torch.full((2, 2), 2.0),
        nll_rows=torch.tensor([True, False]),
    )
    assert loss.item() == pytest.approx(0.055)
    assert metrics["pg_loss"].item() == pytest.approx(0.0)
    assert metrics["kl"].item() == pytest.approx(0.0)
    assert metrics["aux_nll"].item() == pytest.approx(1.5)
    loss.backward()
    assert log_probs.grad is not None


def test_objective_requires_the_inputs_its_terms_need():
    algo = _algorithm(kl_estimator="k3", kl_coef=0.1)
    assert algo.needs_reference and algo.kl_in_loss
    with pytest.raises(ValueError, match="ref_log_probs"):
        policy_objective(algo, torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1), torch.ones(1, 1))


def test_algorithm_validates_its_keys():
    with pytest.raises(ConfigError, match="kl_estimator"):
        _algorithm(kl_estimator="k9", kl_coef=0.1)
    with pytest.raises(ConfigError, match="kl_mode"):
        _algorithm(kl_mode="both")
    assert not _algorithm(kl_estimator="k3", kl_coef=0.0).needs_reference
