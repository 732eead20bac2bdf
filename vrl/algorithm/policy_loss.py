"""Clipped policy-gradient losses: token log-probs -> per-token loss `[B, T]` + metrics.

Every loss has the signature
`fn(log_probs, old_log_probs, advantages, mask, **options) -> (loss, metrics)`:

- `log_probs`: `[B, T]` log pi_theta(y_t | ...) of the response tokens, with gradient (nats).
- `old_log_probs`: `[B, T]` the same under the policy that sampled them, no gradient.
- `advantages`: `[B]` (one per response, broadcast over tokens) or `[B, T]`.
- `mask`: `[B, T]` 1 for policy tokens (0 for padding, prompt and tool-output tokens).
- returns `loss`: `[B, T]` per-token loss, already zero where `mask` is 0; reduce it with an
  aggregator from `vrl.algorithm.aggregation`. `metrics`: detached scalar tensors
  (`clip_frac`, `clip_frac_low`, `clip_frac_high`, `ratio_mean`, `approx_kl`).

Minimising the loss maximises A * ratio inside the trust region.
"""

from __future__ import annotations

import torch

from vrl.algorithm.aggregation import masked_mean

# exp() of a log-ratio above this overflows float16/bfloat16 and means a broken batch anyway.
_MAX_LOG_RATIO = 20.0


def _broadcast(advantages: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`[B]` or `[B, T]` advantages -> `[B, T]`, detached."""
    advantages = advantages.detach().to(device=like.device, dtype=like.dtype)
    return advantages.unsqueeze(-1).expand_as(like) if advantages.dim() == 1 else advantages


def _clipped_objective(
    ratio: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float,
    eps_high: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high)) per token, and how often the clip was active."""
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    loss = torch.maximum(unclipped, clipped)
    with torch.no_grad():
        active = clipped > unclipped  # the clipped branch won: no gradient from this token
        metrics = {
            "clip_frac": masked_mean(active.float(), mask),
            "clip_frac_low": masked_mean((active & (advantages < 0)).float(), mask),
            "clip_frac_high": masked_mean((active & (advantages > 0)).float(), mask),
            "ratio_mean": masked_mean(ratio.detach(), mask),
        }
    return loss, metrics


def ppo_clip_loss(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO clipped surrogate per token; clip-higher (DAPO) when `eps_high > eps_low`.

    ratio_t = exp(log_probs - old_log_probs); loss_t = max(-A r_t, -A clip(r_t, 1-eps_low, 1+eps_high)).

    Args:
        log_probs, old_log_probs, advantages, mask: see the module docstring.
        eps_low: lower clip range (ratio floor 1 - eps_low binds for A < 0).
        eps_high: upper clip range (ratio ceiling 1 + eps_high binds for A > 0).

    Returns:
        `[B, T]` loss (zero off the mask) and detached scalar metrics.
    """
    mask = mask.to(log_probs.dtype)
    log_ratio = (log_probs - old_log_probs.detach()).clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    ratio = torch.exp(log_ratio)
    loss, metrics = _clipped_objective(ratio, _broadcast(advantages, log_probs), mask, eps_low, eps_high)
    metrics["approx_kl"] = masked_mean(-log_ratio.detach(), mask)  # k1 estimate of KL(old || new)
    return loss * mask, metrics


def dual_clip_loss(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    clip_c: float = 3.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Dual-clip PPO (Ye et al. 2020): for A < 0 the loss is also capped at -A * clip_c.

    Without the cap, a token whose ratio exploded (r >> 1) with A < 0 contributes an unbounded
    loss -A r. Dual clip: loss_t = min(ppo_t, -A clip_c) where A < 0, ppo_t elsewhere.

    Args:
        log_probs, old_log_probs, advantages, mask: see the module docstring.
        eps_low, eps_high: as in `ppo_clip_loss`.
        clip_c: ratio cap for negative advantages, > 1.

    Returns:
        `[B, T]` loss (zero off the mask) and metrics, plus `dual_clip_frac`.
    """
    if clip_c <= 1.0:
        raise ValueError(f"clip_c must be > 1, got {clip_c}")
    loss, metrics = ppo_clip_loss(log_probs, old_log_probs, advantages, mask, eps_low, eps_high)
    adv = _broadcast(advantages, log_probs)
    cap = -adv * clip_c
    capped = (adv < 0) & (loss > cap)
    loss = torch.where(capped, cap, loss)
    metrics["dual_clip_frac"] = masked_mean(capped.float(), mask.to(log_probs.dtype))
    return loss * mask.to(log_probs.dtype), metrics


def gspo_loss(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float = 3e-4,
    eps_high: float = 4e-4,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """GSPO (Zheng et al. 2025): one importance ratio per sequence, clipped per sequence.

    s_i = exp(mean_t over the mask of (log_probs - old_log_probs)), the geometric mean of the
    token ratios. Token form (GSPO-token): s_i,t = sg[s_i] * pi(y_t) / sg[pi(y_t)], equal to
    s_i in value, so every token of a sequence gets gradient s_i / |y_i| * grad log pi(y_t)
    under `seq_mean_token_mean`, the aggregation GSPO uses. Clip ranges are tiny (paper:
    3e-4 / 4e-4) because a sequence ratio moves far less than a token ratio.

    Args:
        log_probs, old_log_probs, advantages, mask: see the module docstring.
        eps_low, eps_high: sequence-ratio clip range.

    Returns:
        `[B, T]` loss (zero off the mask) and metrics (`seq_ratio_mean` instead of `ratio_mean`).
    """
    mask = mask.to(log_probs.dtype)
    token_log_ratio = log_probs - old_log_probs.detach()
    seq_log_ratio = masked_mean(token_log_ratio, mask, dim=-1)  # [B], mean log-ratio per sequence
    log_ratio = log_probs - log_probs.detach() + seq_log_ratio.detach().unsqueeze(-1)
    ratio = torch.exp(log_ratio.clamp(max=_MAX_LOG_RATIO))
    loss, metrics = _clipped_objective(ratio, _broadcast(advantages, log_probs), mask, eps_low, eps_high)
    metrics.pop("ratio_mean")
    metrics["seq_ratio_mean"] = torch.exp(seq_log_ratio.detach()).mean()
    metrics["approx_kl"] = masked_mean(-token_log_ratio.detach(), mask)
    return loss * mask, metrics
