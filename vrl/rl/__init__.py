"""The RL stage's parts: prompt stream, settings, the LightningModule.

- `settings`: `RLSettings`, every RL stage setting with its one default.
- `data`: `PromptStream` / `RLDataModule`, seeded and resumable by position.
- `module`: `RLModule`, one `training_step` = rollout -> rethink -> reward -> advantage ->
  replay -> PPO update -> log; its steps 2-6 in `scoring`, 9 in `update`.
- `overlap`: the rollout worker of `max_staleness=1`; `distributed`: the ranks' share of a step.
- `checkpoint`: `RLCheckpoint`, `last.ckpt` every N RL steps.
"""
