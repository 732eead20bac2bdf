"""`rollout_mismatch` (engine vs trainer log-probs) against hand-computed values."""

import math

import pytest
import torch

from vrl.algorithm import rollout_mismatch


def test_mismatch_by_hand_over_the_masked_tokens_only():
    # Engine and trainer log-probs of 2 responses x 3 positions; the mask keeps 3 tokens:
    # (0,0): ln 0.5 vs ln 0.5 -> |d log p| = 0,       |d p| = 0
    # (0,1): ln 0.5 vs ln 0.25 -> |d log p| = ln 2,   |d p| = 0.25
    # (1,0): ln 0.1 vs ln 0.2 -> |d log p| = ln 2,    |d p| = 0.1
    # (0,2) is tool output and (1,1), (1,2) padding: their huge gaps must not count.
    engine = torch.log(torch.tensor([[0.5, 0.5, 0.9], [0.1, 1.0, 1.0]]))
    trainer = torch.log(torch.tensor([[0.5, 0.25, 1e-6], [0.2, 1e-6, 1e-6]]))
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    stats = rollout_mismatch(engine, trainer, mask)
    ln2 = math.log(2)
    assert stats["logprob_diff_mean"].item() == pytest.approx(2 * ln2 / 3, abs=1e-6)  # 0.462098
    assert stats["logprob_diff_max"].item() == pytest.approx(ln2, abs=1e-6)
    assert stats["prob_diff_mean"].item() == pytest.approx(0.35 / 3, abs=1e-6)  # (0 + 0.25 + 0.1) / 3
    assert stats["prob_diff_max"].item() == pytest.approx(0.25, abs=1e-6)
    # verl's torch.std (Bessel): mean 0.116667; squared deviations 0.013611 + 0.017778 + 0.000278
    # = 0.031667; / (3 - 1) = 0.015833; sqrt = 0.125831
    assert stats["prob_diff_std"].item() == pytest.approx(0.125831, abs=1e-6)


def test_identical_log_probs_give_zero_and_the_diff_is_symmetric():
    a = torch.tensor([[-0.3, -2.0]])
    b = torch.tensor([[-0.5, -1.0]])
    mask = torch.ones(1, 2)
    assert all(v.item() == 0.0 for v in rollout_mismatch(a, a, mask).values())
    forward, backward = rollout_mismatch(a, b, mask), rollout_mismatch(b, a, mask)
    assert {k: v.item() for k, v in forward.items()} == {k: v.item() for k, v in backward.items()}
    assert forward["logprob_diff_max"].item() == pytest.approx(1.0)  # |-2 - -1|


def test_one_token_has_zero_std_and_an_empty_mask_gives_no_metrics():
    stats = rollout_mismatch(
        torch.tensor([[math.log(0.5)]]), torch.tensor([[math.log(0.4)]]), torch.ones(1, 1)
    )
    assert stats["prob_diff_max"].item() == pytest.approx(0.1, abs=1e-6)
    assert stats["prob_diff_std"].item() == 0.0  # not NaN
    assert rollout_mismatch(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3)) == {}
