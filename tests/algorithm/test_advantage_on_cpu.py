"""Advantage estimators against hand-computed values and a looped reference."""

import pytest
import torch

from vrl.algorithm import group_mean_advantages, grpo_advantages, rloo_advantages


def test_grpo_one_correct_of_five():
    # mean = 0.2; deviations 0.8, -0.2 x4; Bessel var = (0.64 + 4 * 0.04) / 4 = 0.2; std = 0.447214
    # A = 0.8 / 0.447214 = 1.788854 ; -0.2 / 0.447214 = -0.447214
    adv = grpo_advantages(torch.tensor([1.0, 0, 0, 0, 0]), group_size=5)
    expected = torch.tensor([1.788854, -0.447214, -0.447214, -0.447214, -0.447214])
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=0)


def test_grpo_uniform_group_is_zero_and_groups_are_independent():
    # group 1 = [1, 1]: std 0 -> 0 / (0 + eps) = 0.  group 2 = [0, 2]: mean 1, std sqrt(2) = 1.414214
    # A = -1 / 1.414214 = -0.707107, +0.707107
    adv = grpo_advantages(torch.tensor([1.0, 1.0, 0.0, 2.0]), group_size=2)
    torch.testing.assert_close(adv, torch.tensor([0.0, 0.0, -0.707107, 0.707107]), atol=1e-5, rtol=0)


def _grpo_looped(rewards, n, eps=1e-6):
    out = []
    for g in range(0, len(rewards), n):
        group = rewards[g : g + n]
        mean = sum(group) / n
        std = (sum((r - mean) ** 2 for r in group) / (n - 1)) ** 0.5
        out.extend((r - mean) / (std + eps) for r in group)
    return torch.tensor(out)


def test_grpo_vectorised_matches_looped_reference():
    generator = torch.Generator().manual_seed(0)
    rewards = torch.randint(0, 3, (6 * 8,), generator=generator).float() / 2
    torch.testing.assert_close(
        grpo_advantages(rewards, 8), _grpo_looped(rewards.tolist(), 8), atol=1e-5, rtol=0
    )


def test_group_mean_no_std():
    # group [1, 0, 0, 0]: mean 0.25 -> 0.75, -0.25 x3.  group [1.1, -0.1]: mean 0.5 -> 0.6, -0.6
    adv = group_mean_advantages(torch.tensor([1.0, 0, 0, 0, 1.1, -0.1, 0.5, 0.5]), group_size=2)
    torch.testing.assert_close(
        adv, torch.tensor([0.5, -0.5, 0.0, 0.0, 0.6, -0.6, 0.0, 0.0]), atol=1e-6, rtol=0
    )
    adv4 = group_mean_advantages(torch.tensor([1.0, 0, 0, 0]), group_size=4)
    torch.testing.assert_close(adv4, torch.tensor([0.75, -0.25, -0.25, -0.25]))


def test_rloo_leave_one_out():
    # [1, 0, 0, 0]: baselines: others of r0 = 0 -> A0 = 1; others of r1 = (1+0+0)/3 -> A1 = -1/3
    # check: n/(n-1) * (r - mean) = 4/3 * 0.75 = 1, 4/3 * -0.25 = -0.333333
    adv = rloo_advantages(torch.tensor([1.0, 0, 0, 0]), group_size=4)
    torch.testing.assert_close(adv, torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3]))


def test_group_of_one_gives_zero_and_bad_shapes_raise():
    assert grpo_advantages(torch.tensor([3.0, 1.0]), 1).tolist() == [0.0, 0.0]
    assert rloo_advantages(torch.tensor([3.0, 1.0]), 1).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError):
        grpo_advantages(torch.tensor([1.0, 0.0, 1.0]), 2)
