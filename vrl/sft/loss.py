"""Masked next-token loss. Pure functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_token_nll(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the tokens whose `loss_mask` is 1.

    Args:
        logits: [B, T, V] next-token logits (position t predicts token t+1).
        input_ids: [B, T] token ids.
        loss_mask: [B, T] 1 where token t is a training target (assistant, policy tokens), else 0.
    Returns:
        scalar: sum of NLL over masked targets / number of masked targets (nats per token);
        0 (with grad) if nothing is masked in.
    """
    shift_logits = logits[:, :-1].float()
    targets = input_ids[:, 1:]
    weights = loss_mask[:, 1:].to(shift_logits.dtype)
    nll = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)), targets.reshape(-1), reduction="none"
    )
    return (nll * weights.reshape(-1)).sum() / weights.sum().clamp(min=1.0)
