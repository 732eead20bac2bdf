"""Token log-probabilities and entropies from logits `[B, T, V]`.

Both are computed in float32 whatever the logits dtype (bf16 log-softmax loses the small
probabilities). The logits must already be aligned with the tokens they predict (shifted by
one) and divided by the sampling temperature if the old log-probs were taken that way.
"""

from __future__ import annotations

import torch


def log_probs_from_logits(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """log p(token) under the logits: `[B, T, V]`, `[B, T]` int -> `[B, T]` nats."""
    logits = logits.float()
    picked = torch.gather(logits, dim=-1, index=token_ids.long().unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical over the vocabulary: `[B, T, V]` -> `[B, T]` nats.

    H = logsumexp(l) - sum_v softmax(l)_v l_v  (= -sum p log p, without computing log p).
    """
    logits = logits.float()
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)
