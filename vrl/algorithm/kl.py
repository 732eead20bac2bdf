"""Per-token KL estimators between the policy and a frozen reference, `[B, T]` -> `[B, T]`.

With x = log pi_ref(y_t) - log pi_theta(y_t) for tokens sampled from pi_theta (Schulman,
"Approximating KL divergence"): k1 = -x (unbiased, high variance, can be negative),
k2 = x^2 / 2 (biased, low variance), k3 = exp(x) - x - 1 (unbiased, low variance, >= 0; the
GRPO default). All in nats per token.

Two ways to use one (`Algorithm.kl_mode`): as a loss term (`kl_coef * aggregate(kl)`, GRPO),
or as a penalty on the scalar reward before advantages (`kl_reward_penalty`, PPO/RLHF).

k3 exponentiates the log-ratio, so one token the policy has made far less likely than the
reference (x = 30 nats) contributes e^30 and swamps the loss. verl clamps it for numerical
stability (`core_algos.kl_penalty`, "low_var_kl"): x to [-20, 20] before the exponential and
k3 itself to [-10, 10]. `kl_divergence` does the same when given the two bounds
(`Algorithm.kl_log_ratio_clamp`, `Algorithm.kl_clamp`; null = unclamped, as TRL and ms-swift).
The clamp is a value clamp: a clamped token has zero gradient, as in verl.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def kl_k1(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """k1 = log pi - log pi_ref, `[B, T]` nats."""
    return log_probs - ref_log_probs


def kl_k2(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """k2 = (log pi - log pi_ref)^2 / 2, `[B, T]` nats."""
    return 0.5 * (log_probs - ref_log_probs).square()


def kl_k3(
    log_probs: torch.Tensor,
    ref_log_probs: torch.Tensor,
    log_ratio_clamp: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """k3 = exp(x) - x - 1 with x = log pi_ref - log pi, `[B, T]` nats, >= 0.

    Args:
        log_ratio_clamp: x is clamped to [-c, c] before the exponential (verl: 20); None = off.
        clamp: k3 is clamped to [-c, c] afterwards (verl: 10); None = off.
    """
    x = ref_log_probs - log_probs
    if log_ratio_clamp is not None:
        x = x.clamp(min=-log_ratio_clamp, max=log_ratio_clamp)
    k3 = torch.exp(x) - x - 1.0
    return k3 if clamp is None else k3.clamp(min=-clamp, max=clamp)


KL_ESTIMATORS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "k1": kl_k1,
    "k2": kl_k2,
    "k3": kl_k3,
}


def kl_divergence(
    log_probs: torch.Tensor,
    ref_log_probs: torch.Tensor,
    estimator: str = "k3",
    *,
    log_ratio_clamp: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Per-token KL estimate `[B, T]` by name ("k1", "k2", "k3"); the clamps apply to k3 only
    (verl clamps only its "low_var_kl"; k1 and k2 have no exponential to overflow)."""
    if estimator not in KL_ESTIMATORS:
        raise ValueError(f"unknown KL estimator {estimator!r}; choose one of {sorted(KL_ESTIMATORS)}")
    if estimator == "k3":
        return kl_k3(log_probs, ref_log_probs, log_ratio_clamp, clamp)
    return KL_ESTIMATORS[estimator](log_probs, ref_log_probs)


@torch.no_grad()
def kl_reward_penalty(
    rewards: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, beta: float
) -> torch.Tensor:
    """Reward minus beta times the response's summed KL: `[B]`, `[B, T]`, `[B, T]` -> `[B]`.

    r'_i = r_i - beta * sum_t mask_it * kl_it. Apply before the advantage estimator; the KL
    then acts as a (detached) cost of drifting from the reference.
    """
    return rewards - beta * (kl * mask.to(kl.dtype)).sum(dim=-1)
