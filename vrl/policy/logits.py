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
    return _picked(logits, token_ids) - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical over the vocabulary: `[B, T, V]` -> `[B, T]` nats.

    H = logsumexp(l) - sum_v softmax(l)_v l_v  (= -sum p log p, without computing log p).
    """
    logits = logits.float()
    return _entropy(logits, torch.logsumexp(logits, dim=-1))


def log_probs_and_entropy(
    logits: torch.Tensor, token_ids: torch.Tensor, entropy_grad: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """`log_probs_from_logits` and `entropy_from_logits` in one pass: `[B, T, V]`, `[B, T]` int
    -> (`[B, T]`, `[B, T]`) nats, the same numbers. The logsumexp over the vocabulary is taken
    once (a third of the work on the logits); `entropy_grad=False`: the entropy is only logged,
    so it is computed outside autograd (nothing of it kept for the backward)."""
    logits = logits.float()
    lse = torch.logsumexp(logits, dim=-1)
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        entropy = _entropy(logits, lse)
    return _picked(logits, token_ids) - lse, entropy


def _picked(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """The logit of each token: `[B, T, V]`, `[B, T]` int -> `[B, T]`."""
    return torch.gather(logits, dim=-1, index=token_ids.long().unsqueeze(-1)).squeeze(-1)


def _entropy(logits: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """H from float32 logits `[B, T, V]` and their logsumexp `[B, T]` (see `entropy_from_logits`)."""
    return lse - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)
