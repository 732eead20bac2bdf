"""The `rl` stage: policy optimisation from verifiable rewards; checkpoints and resumes; saves an HF model."""

from __future__ import annotations

import logging

from vrl.errors import ConfigError
from vrl.loggers import finish
from vrl.stages.base import StageContext, StageResult, require_product
from vrl.stages.common import export_model, load_model

log = logging.getLogger("vrl")


class RLStage:
    """RL on the current model with the run's `rollout`, `reward`, `algorithm`, `replay`, `rethink`.

    Args:
        dataset: product key of the prompt set ("train_data").
        prompts_per_step: prompts per RL step (each answered `group_size` times).
        group_size: responses per prompt, n.
        max_steps: RL steps (one rollout batch each).
        lr, weight_decay: AdamW, constant lr.
        gradient_clip_val: max global grad norm (0 = off).
        micro_batch_size: responses per forward/backward pass.
        max_new_tokens, temperature, top_p: rollout sampling (override the `rollout` group's).
        save_every_n_steps, log_every_n_steps: in RL steps.
    PPO epochs and mini-batch size live in `algorithm`. Products: model (an HF directory at
    `<stage>/model`). Resumes from `<stage>/checkpoints/last.ckpt` (weights, optimizer,
    replay store, rethink RNG, global RNGs, data position).
    """

    def __init__(
        self,
        dataset: str = "train_data",
        prompts_per_step: int = 8,
        group_size: int = 4,
        max_steps: int = 100,
        lr: float = 1e-5,
        weight_decay: float = 0.0,
        gradient_clip_val: float = 1.0,
        micro_batch_size: int = 8,
        max_new_tokens: int = 32,
        temperature: float = 1.0,
        top_p: float = 1.0,
        save_every_n_steps: int = 10,
        log_every_n_steps: int = 1,
    ) -> None:
        self.dataset = dataset
        self.prompts_per_step, self.group_size, self.max_steps = prompts_per_step, group_size, max_steps
        self.lr, self.weight_decay, self.gradient_clip_val = lr, weight_decay, gradient_clip_val
        self.micro_batch_size = micro_batch_size
        self.sampling = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
        self.save_every_n_steps, self.log_every_n_steps = save_every_n_steps, log_every_n_steps

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from vrl.rl.checkpoint import RLCheckpoint
        from vrl.rl.data import RLDataModule
        from vrl.rl.module import RLModule

        components = context.components
        for group in ("reward", "algorithm", "rollout", "replay"):
            if getattr(components, group) is None:
                example = {"reward": "math_verify", "algorithm": "grpo", "rollout": "hf", "replay": "none"}
                raise ConfigError(f"the rl stage needs a {group} component: e.g. {group}={example[group]}")
        train_dir = require_product(products, self.dataset, context.name)
        loaded = load_model(context, products)
        module = RLModule(
            loaded.model,
            loaded.processor,
            components.rollout,
            components.reward,
            components.algorithm,
            components.replay,
            components.rethink,
            group_size=self.group_size,
            max_steps=self.max_steps,
            lr=self.lr,
            weight_decay=self.weight_decay,
            gradient_clip_val=self.gradient_clip_val,
            micro_batch_size=self.micro_batch_size,
            sampling=self.sampling,
        )
        data = RLDataModule(train_dir, self.prompts_per_step, context.seed)
        checkpoint = RLCheckpoint(context.stage_dir / "checkpoints", self.save_every_n_steps)
        loggers = components.logger.build(context.name, context.stage_dir, context.config)
        trainer = components.trainer.build(
            max_steps=-1,  # the module stops the Trainer after max_steps RL steps
            max_epochs=-1,
            log_every_n_steps=self.log_every_n_steps,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            callbacks=[checkpoint],
            enable_checkpointing=False,  # RLCheckpoint counts RL steps; no default ModelCheckpoint
            logger=loggers,
            default_root_dir=str(context.stage_dir),
        )
        resume = checkpoint.last
        if resume.exists():
            log.info("stage %s: resuming from %s", context.name, resume)
        module.model.train()
        try:
            trainer.fit(
                module,
                datamodule=data,
                ckpt_path=str(resume) if resume.exists() else None,
                weights_only=False,  # the checkpoint holds the replay store (trajectories) and RNG states
            )
        finally:
            if hasattr(components.reward, "close"):
                components.reward.close()
        metrics = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if k.startswith(("train/", "rollout/", "reward/", "replay/"))
        }
        metrics[f"{context.name}/steps"] = float(module.rl_step)
        finish(loggers)

        out = export_model(trainer, module.model, loaded.processor, context.stage_dir / "model")
        return StageResult(products={"model": str(out)}, metrics=metrics)
