"""RL math as pure functions: advantages, policy losses, aggregation, KL, auxiliary NLL.

Seams (as in EasyR1's core_algos / verl's registries): every family shares one signature, a
new variant is a new function plus a `conf/algorithm/` option, never another branch.

- advantage:   `fn(rewards [B], group_size, **opts) -> [B]`            (groups contiguous)
- policy loss: `fn(log_probs, old_log_probs, advantages, mask, **opts) -> ([B, T], metrics)`
- aggregation: `fn(loss [B, T], mask, *, global_token_count, global_seq_count) -> scalar`
- KL:          `fn(log_probs, ref_log_probs) -> [B, T]`, by name in `KL_ESTIMATORS`
- diagnostics: `rollout_mismatch(sampling_log_probs, log_probs, mask) -> metrics` (engine vs trainer)

`Algorithm` (built by Hydra from `conf/algorithm/<name>.yaml`) bundles the choice;
`policy_objective` turns one batch into the scalar loss.
"""

from vrl.algorithm.advantage import group_mean_advantages, grpo_advantages, rloo_advantages
from vrl.algorithm.aggregation import masked_mean, seq_mean_token_mean, seq_mean_token_sum, token_mean
from vrl.algorithm.aux_nll import masked_nll, nll_selection
from vrl.algorithm.config import Algorithm
from vrl.algorithm.kl import KL_ESTIMATORS, kl_divergence, kl_k1, kl_k2, kl_k3, kl_reward_penalty
from vrl.algorithm.mismatch import rollout_mismatch
from vrl.algorithm.objective import policy_objective
from vrl.algorithm.policy_loss import dual_clip_loss, gspo_loss, ppo_clip_loss

__all__ = [
    "KL_ESTIMATORS",
    "Algorithm",
    "dual_clip_loss",
    "group_mean_advantages",
    "grpo_advantages",
    "gspo_loss",
    "kl_divergence",
    "kl_k1",
    "kl_k2",
    "kl_k3",
    "kl_reward_penalty",
    "masked_mean",
    "masked_nll",
    "nll_selection",
    "policy_objective",
    "ppo_clip_loss",
    "rloo_advantages",
    "rollout_mismatch",
    "seq_mean_token_mean",
    "seq_mean_token_sum",
    "token_mean",
]
