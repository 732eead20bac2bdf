"""The RL stage's parts: prompt stream, trajectory tensors and log-probs, the LightningModule.

- `batch`: trajectories -> policy-forward tensors; per-token response log-probs.
- `data`: `PromptStream` / `RLDataModule`, seeded and resumable by position.
- `module`: `RLModule`, one `training_step` = rollout -> rethink -> reward -> advantage ->
  replay -> PPO update -> log.
- `checkpoint`: `RLCheckpoint`, `last.ckpt` every N RL steps.
"""

from vrl.rl.batch import image_inputs, left_pad, policy_inputs, response_log_probs, token_log_probs

__all__ = ["image_inputs", "left_pad", "policy_inputs", "response_log_probs", "token_log_probs"]
