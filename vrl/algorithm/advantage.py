"""Outcome advantages for group sampling: `[B]` rewards -> `[B]` advantages.

Every estimator has the signature `fn(rewards, group_size, **options) -> advantages`.
`rewards` is a float tensor `[B]` (B = number_of_prompts * group_size) whose groups are
contiguous: responses `g*n .. g*n+n-1` answer prompt `g`. Advantages are unitless (reward
units divided by a reward scale, or reward units for the mean-only estimators) and are
broadcast over the response tokens by the policy loss. No gradient flows through them.
"""

from __future__ import annotations

import torch


def _grouped(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """`[B]` -> `[B // n, n]`, checking that the batch is made of whole groups."""
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [B], got shape {tuple(rewards.shape)}")
    if group_size < 1 or rewards.numel() % group_size:
        raise ValueError(f"batch of {rewards.numel()} rewards is not made of groups of {group_size}")
    return rewards.detach().float().view(-1, group_size)


@torch.no_grad()
def grpo_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """GRPO (DeepSeekMath): A_i = (r_i - mean_g) / (std_g + eps), std Bessel-corrected (n - 1).

    Args:
        rewards: `[B]` scalar reward per response, groups contiguous.
        group_size: responses per prompt, n. A group of one gets advantage 0.
        eps: added to the std so uniform groups give 0, not NaN.

    Returns:
        `[B]` advantages in units of the group's reward std.
    """
    grouped = _grouped(rewards, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if group_size == 1:
        return torch.zeros_like(centred).view(-1)
    std = grouped.std(dim=1, keepdim=True, correction=1)
    return (centred / (std + eps)).view(-1)


@torch.no_grad()
def group_mean_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Dr.GRPO / VL-Rethinker: A_i = r_i - mean_g (no std division, so no difficulty bias).

    Args:
        rewards: `[B]` scalar reward per response, groups contiguous.
        group_size: responses per prompt, n.

    Returns:
        `[B]` advantages in reward units.
    """
    grouped = _grouped(rewards, group_size)
    return (grouped - grouped.mean(dim=1, keepdim=True)).view(-1)


@torch.no_grad()
def rloo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO: A_i = r_i - mean_{j != i} r_j, the leave-one-out baseline.

    Equal to n / (n - 1) * (r_i - mean_g). A group of one has no baseline and gets 0.

    Args:
        rewards: `[B]` scalar reward per response, groups contiguous.
        group_size: responses per prompt, n.

    Returns:
        `[B]` advantages in reward units.
    """
    grouped = _grouped(rewards, group_size)
    if group_size == 1:
        return torch.zeros_like(grouped).view(-1)
    others_mean = (grouped.sum(dim=1, keepdim=True) - grouped) / (group_size - 1)
    return (grouped - others_mean).view(-1)
