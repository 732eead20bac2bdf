"""`Algorithm`: the choice of RL math for a stage, built from a `conf/algorithm/<name>.yaml` option.

The functions arrive as `functools.partial`s (`_partial_: true` in the YAML) with their
options bound, so the stage calls them with runtime tensors only:
`advantage(rewards, group_size)`, `policy_loss(log_probs, old_log_probs, advantages, mask)`,
`aggregation(loss, mask, global_token_count=..., global_seq_count=...)`.
`vrl.algorithm.objective.policy_objective` combines them into the scalar loss of a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from vrl.algorithm.aggregation import token_mean
from vrl.algorithm.kl import KL_ESTIMATORS, kl_divergence
from vrl.answer.cues import RETHINK_CUES
from vrl.errors import ConfigError
from vrl.partials import plain_partial

KL_MODES = ("loss", "reward")


@dataclass
class Algorithm:
    """How rewards become a loss.

    Attributes:
        advantage: `fn(rewards [B], group_size) -> advantages [B]` (`vrl.algorithm.advantage`).
        policy_loss: `fn(log_probs, old_log_probs, advantages, mask) -> (loss [B, T], metrics)`
            (`vrl.algorithm.policy_loss`).
        aggregation: `fn(loss [B, T], mask, *, global_token_count, global_seq_count) -> scalar`
            (`vrl.algorithm.aggregation`); also reduces the KL and entropy terms.
        kl_estimator: "k1" | "k2" | "k3", or None for no reference model at all.
        kl_coef: weight of the KL (loss coefficient, or beta of the reward penalty).
        kl_mode: "loss" (add kl_coef * aggregate(kl) to the loss, GRPO) or "reward"
            (subtract kl_coef * summed KL from each reward before advantages, PPO-RLHF).
        kl_log_ratio_clamp: k3's log-ratio is clamped to +-this before the exponential
            (verl: 20); None = unclamped.
        kl_clamp: the per-token k3 is clamped to +-this (verl: 10); None = unclamped.
        entropy_coef: weight of the entropy bonus (loss -= entropy_coef * aggregate(entropy)).
        aux_nll_coef: weight of the auxiliary NLL on responses with A > 0 that contain a
            rethinking cue (VL-Rethinker: 0.05); 0 = off.
        aux_nll_cues: the lower-case cues that select a response for the auxiliary NLL.
        ppo_epochs: passes over each rollout batch (1 = on-policy, ratio = 1 at the first step).
        mini_batch_size: responses per optimizer step; None = the whole batch in one step.
    """

    advantage: Callable
    policy_loss: Callable
    aggregation: Callable = token_mean
    kl_estimator: str | None = None
    kl_coef: float = 0.0
    kl_mode: str = "loss"
    kl_log_ratio_clamp: float | None = 20.0
    kl_clamp: float | None = 10.0
    entropy_coef: float = 0.0
    aux_nll_coef: float = 0.0
    aux_nll_cues: Sequence[str] = RETHINK_CUES
    ppo_epochs: int = 1
    mini_batch_size: int | None = None

    def __post_init__(self) -> None:
        # Hydra's per-call authorization of its partials: ~0.3 ms a call (vrl.partials)
        self.advantage = plain_partial(self.advantage)
        self.policy_loss = plain_partial(self.policy_loss)
        self.aggregation = plain_partial(self.aggregation)
        self.aux_nll_cues = tuple(str(cue) for cue in self.aux_nll_cues)
        if self.kl_estimator is not None and self.kl_estimator not in KL_ESTIMATORS:
            raise ConfigError(
                f"algorithm.kl_estimator={self.kl_estimator!r} is unknown; use one of "
                f"{sorted(KL_ESTIMATORS)} or null"
            )
        if self.kl_mode not in KL_MODES:
            raise ConfigError(f"algorithm.kl_mode={self.kl_mode!r} is unknown; use one of {KL_MODES}")
        for key in ("kl_log_ratio_clamp", "kl_clamp"):
            if getattr(self, key) is not None and getattr(self, key) <= 0:
                raise ConfigError(f"algorithm.{key}={getattr(self, key)} must be > 0 or null (no clamp)")
        for key in ("kl_coef", "entropy_coef", "aux_nll_coef"):
            if getattr(self, key) < 0:
                raise ConfigError(f"algorithm.{key}={getattr(self, key)} must be >= 0")
        if self.ppo_epochs < 1:
            raise ConfigError(f"algorithm.ppo_epochs={self.ppo_epochs} must be >= 1")
        if self.mini_batch_size is not None and self.mini_batch_size < 1:
            raise ConfigError(f"algorithm.mini_batch_size={self.mini_batch_size} must be >= 1 or null")

    def kl(self, log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
        """Per-token `[B, T]` KL with this algorithm's estimator and clamps."""
        return kl_divergence(
            log_probs,
            ref_log_probs,
            self.kl_estimator or "k3",
            log_ratio_clamp=self.kl_log_ratio_clamp,
            clamp=self.kl_clamp,
        )

    @property
    def needs_reference(self) -> bool:
        """Whether the stage must keep a frozen reference model (some KL is used)."""
        return self.kl_estimator is not None and self.kl_coef > 0

    @property
    def kl_in_loss(self) -> bool:
        return self.needs_reference and self.kl_mode == "loss"

    @property
    def kl_in_reward(self) -> bool:
        return self.needs_reference and self.kl_mode == "reward"
