"""The scalar loss of one (micro-)batch: policy loss + KL + entropy + auxiliary NLL.

loss = aggregate(policy_loss) + kl_coef * aggregate(kl)          (kl_mode "loss")
       - entropy_coef * aggregate(entropy) + aux_nll_coef * masked_nll(selected rows)

All terms share the algorithm's aggregation and the step's global counts, so micro-batches
of one optimizer step add up to the full-batch loss.
"""

from __future__ import annotations

import torch

from vrl.algorithm.aux_nll import masked_nll
from vrl.algorithm.config import Algorithm


def policy_objective(
    algorithm: Algorithm,
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_log_probs: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None,
    nll_rows: torch.Tensor | None = None,
    global_token_count: int | float | None = None,
    global_seq_count: int | float | None = None,
    global_nll_token_count: int | float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Scalar loss to backpropagate and detached metrics (`pg_loss`, `kl`, `entropy`, `aux_nll`, ...).

    Args:
        algorithm: the stage's `Algorithm`.
        log_probs: `[B, T]` current log-probs of the response tokens, with gradient.
        old_log_probs: `[B, T]` log-probs at sampling time (or a detached copy of `log_probs`
            when on-policy).
        advantages: `[B]` or `[B, T]`.
        mask: `[B, T]` 1 for policy tokens.
        ref_log_probs: `[B, T]` reference log-probs; required when `algorithm.kl_in_loss`.
        entropy: `[B, T]` token entropies (`entropy_from_logits`); logged when given, and
            required when `entropy_coef > 0`.
        nll_rows: `[B]` bool from `nll_selection`; required when `aux_nll_coef > 0`.
        global_token_count, global_seq_count: the optimizer step's totals (see aggregation).
        global_nll_token_count: policy tokens of the selected rows in the whole step.
    """
    counts = {"global_token_count": global_token_count, "global_seq_count": global_seq_count}
    token_loss, metrics = algorithm.policy_loss(log_probs, old_log_probs, advantages, mask)
    loss = algorithm.aggregation(token_loss, mask, **counts)
    metrics["pg_loss"] = loss.detach()

    if algorithm.kl_in_loss:
        if ref_log_probs is None:
            raise ValueError("algorithm uses a KL loss term: pass ref_log_probs")
        kl = algorithm.aggregation(algorithm.kl(log_probs, ref_log_probs), mask, **counts)
        loss = loss + algorithm.kl_coef * kl
        metrics["kl"] = kl.detach()

    if entropy is not None:
        mean_entropy = algorithm.aggregation(entropy, mask, **counts)
        metrics["entropy"] = mean_entropy.detach()
        if algorithm.entropy_coef > 0:
            loss = loss - algorithm.entropy_coef * mean_entropy
    elif algorithm.entropy_coef > 0:
        raise ValueError("algorithm has an entropy bonus: pass entropy")

    if algorithm.aux_nll_coef > 0:
        if nll_rows is None:
            raise ValueError("algorithm has an auxiliary NLL: pass nll_rows")
        nll = masked_nll(log_probs, mask, nll_rows, global_token_count=global_nll_token_count)
        loss = loss + algorithm.aux_nll_coef * nll
        metrics["aux_nll"] = nll.detach()
        metrics["aux_nll_frac"] = nll_rows.float().mean()

    metrics["loss"] = loss.detach()
    return loss, metrics
