"""Loss aggregation: per-token loss `[B, T]` + mask `[B, T]` -> scalar.

Every aggregator has the signature
`fn(loss, mask, *, global_token_count=None, global_seq_count=None) -> scalar`, so the caller
can stay generic. When one optimizer step is split into micro-batches, pass the step's totals
(response tokens under the mask, number of sequences): each micro-batch then returns its
share and the sum over micro-batches equals the aggregate of the whole step's batch.
Each aggregator reads only the count it needs.
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `values` where `mask` is 1 (over `dim`, or everything); 0 where nothing is masked in."""
    mask = mask.to(values.dtype)
    total = (values * mask).sum() if dim is None else (values * mask).sum(dim)
    count = mask.sum() if dim is None else mask.sum(dim)
    return total / count.clamp(min=1.0)


def token_mean(
    loss: torch.Tensor,
    mask: torch.Tensor,
    *,
    global_token_count: int | float | None = None,
    global_seq_count: int | float | None = None,
) -> torch.Tensor:
    """Sum of masked token losses / number of tokens (DAPO, VL-Rethinker): every token weighs the same.

    Args:
        loss: `[B, T]` per-token loss.
        mask: `[B, T]` 1 for tokens that count.
        global_token_count: masked tokens in the whole optimizer step (default: this batch's).
        global_seq_count: unused (uniform signature).
    """
    mask = mask.to(loss.dtype)
    if global_token_count is None:
        return (loss * mask).sum() / mask.sum().clamp(min=1.0)
    return (loss * mask).sum() / max(float(global_token_count), 1.0)


def seq_mean_token_mean(
    loss: torch.Tensor,
    mask: torch.Tensor,
    *,
    global_token_count: int | float | None = None,
    global_seq_count: int | float | None = None,
) -> torch.Tensor:
    """Mean over sequences of each sequence's token mean (original GRPO, GSPO).

    Args:
        loss: `[B, T]` per-token loss.
        mask: `[B, T]` 1 for tokens that count.
        global_token_count: unused (uniform signature).
        global_seq_count: sequences in the whole optimizer step (default: B).
    """
    per_seq = masked_mean(loss, mask, dim=-1)  # [B]
    denominator = per_seq.shape[0] if global_seq_count is None else float(global_seq_count)
    return per_seq.sum() / max(denominator, 1)


def seq_mean_token_sum(
    loss: torch.Tensor,
    mask: torch.Tensor,
    *,
    global_token_count: int | float | None = None,
    global_seq_count: int | float | None = None,
) -> torch.Tensor:
    """Mean over sequences of each sequence's token sum (Dr.GRPO-style, no length normalisation).

    Args:
        loss: `[B, T]` per-token loss.
        mask: `[B, T]` 1 for tokens that count.
        global_token_count: unused (uniform signature).
        global_seq_count: sequences in the whole optimizer step (default: B).
    """
    per_seq = (loss * mask.to(loss.dtype)).sum(dim=-1)  # [B]
    denominator = per_seq.shape[0] if global_seq_count is None else float(global_seq_count)
    return per_seq.sum() / max(denominator, 1)
