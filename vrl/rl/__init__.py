"""The RL stage's parts: prompt stream, settings, the LightningModule.

- `settings`: `RLSettings`, every RL stage setting with its one default.
- `data`: `PromptStream` / `RLDataModule`, seeded and resumable by position.
- `module`: `RLModule`, one `training_step` = rollout -> rethink -> reward -> advantage ->
  replay -> PPO update -> log.
- `checkpoint`: `RLCheckpoint`, `last.ckpt` every N RL steps.
"""
