"""Rollout correctness: how far the engine's own log-probs are from the trainer's.

An engine that reports the log-prob of each token it sampled (vLLM) and the trainer that
recomputes it (`vrl.policy.log_probs`) run the same weights on the same tokens, so the two
should agree up to kernel numerics. A large gap means the engine samples from another policy
than the one the loss assumes: weights not synced, a stale cache (image embeddings, prefix KV),
a different temperature, or low-precision kernels (the "training-inference mismatch").

verl logs the same check (`verl/utils/debug/metrics.py`, `calculate_debug_metrics`) on
probabilities, `|exp(a) - exp(b)|` over the response mask, as `training/rollout_probs_diff_
{mean,max,std}` (std with Bessel's correction, `torch.std`). `rollout_mismatch` returns those
(`prob_diff_*`) and the same on log-probs (`logprob_diff_*`), which shows a gap on unlikely
tokens that the probability difference hides.
"""

from __future__ import annotations

import torch


def rollout_mismatch(
    sampling_log_probs: torch.Tensor, log_probs: torch.Tensor, mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Mean and max of `|sampling - trainer|` over the masked tokens, on log-probs and on
    probabilities (verl's), as 0-d tensors; `{}` when the mask selects no token.

    Args:
        sampling_log_probs: `[B, T]` log-probs the engine reported while sampling.
        log_probs: `[B, T]` the trainer's log-probs of the same tokens (old log-probs).
        mask: `[B, T]` 1 = a token both scored (sampled by the policy); 0 = tool output, padding.

    Returns:
        `logprob_diff_mean`, `logprob_diff_max`: of `|a - b|` in nats.
        `prob_diff_mean`, `prob_diff_max`, `prob_diff_std`: of `|exp(a) - exp(b)|` (std 0 for
        a single token, where Bessel's correction is undefined).
    """
    keep = mask.bool()
    if not keep.any():
        return {}
    a, b = sampling_log_probs.float()[keep], log_probs.float()[keep]  # [N] the masked tokens
    log_diff = (a - b).abs()
    prob_diff = (a.exp() - b.exp()).abs()
    return {
        "logprob_diff_mean": log_diff.mean(),
        "logprob_diff_max": log_diff.max(),
        "prob_diff_mean": prob_diff.mean(),
        "prob_diff_max": prob_diff.max(),
        "prob_diff_std": prob_diff.std() if prob_diff.numel() > 1 else prob_diff.new_zeros(()),
    }
