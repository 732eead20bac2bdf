"""The `rl` stage: policy optimisation from verifiable rewards; checkpoints and resumes; saves an HF model."""

from __future__ import annotations

import logging

from vrl.errors import ConfigError
from vrl.rl.overlap import check_overlap
from vrl.rl.settings import RLSettings
from vrl.stages.base import StageContext, StageResult, need, require_product
from vrl.stages.common import export_model, load_model
from vrl.stages.preflight import check_engine_placement, check_rollout, check_trainer
from vrl.stages.training import resumable_fit, stop_callbacks

log = logging.getLogger("vrl")


class RLStage:
    """RL on the current model with the run's `rollout`, `reward`, `algorithm`, `replay`, `rethink`.

    Args:
        settings: every setting of the stage (`vrl.rl.settings.RLSettings`); sampling is the
            rollout's (`rollout.sampling`), PPO epochs and mini-batches the algorithm's.
    Products: model (an HF directory at `<stage>/model`). Resumes from
    `<stage>/checkpoints/last.ckpt` (weights, optimizer, replay store, rethink RNG, every rank's
    global RNGs, data position), which a stop signal also writes, at the end of the current RL
    step (`vrl.stages.training`). Every rank trains (its share of each step's prompts).
    """

    all_ranks = True  # every rank rolls out and trains (vrl.run); rank 0 writes the products

    def __init__(self, settings: RLSettings) -> None:
        self.settings = settings
        self.requires = (settings.dataset,)
        self.reads = ("model",)
        self.writes = ("model",)

    def check(self, context: StageContext) -> None:
        c = context.components
        need(c.model, "rl", "model", "tiny_qwen2_5_vl")
        rollout = need(c.rollout, "rl", "rollout", "hf")
        check_rollout(rollout)
        need(c.reward, "rl", "reward", "math_verify")
        need(c.algorithm, "rl", "algorithm", "grpo")
        need(c.replay, "rl", "replay", "none")
        rethink = need(c.rethink, "rl", "rethink", "none")
        check_trainer(need(c.trainer, "rl", "trainer", "cpu"))
        check_engine_placement(rollout, c.trainer)
        need(c.logger, "rl", "logger", "default")
        if rollout.sampling.greedy:
            raise ConfigError(
                f"rollout.sampling.temperature={rollout.sampling.temperature}: RL rollouts must sample "
                "(the group's responses would be identical); set it > 0, e.g. 1.0"
            )
        check_overlap(self.settings.max_staleness, rollout, c.trainer, c.replay, rethink)
        if rethink.active and rollout.tool_loop is not None:
            raise ConfigError(
                "rethink=forced with a tool loop is not supported (it would re-tokenise the tool output "
                "and lose its images): set rethink=none or tool=none"
            )

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from vrl.rl.checkpoint import RLCheckpoint
        from vrl.rl.data import RLDataModule
        from vrl.rl.module import RLModule
        from vrl.rl.samples import RolloutSamples

        s, c = self.settings, context.components
        train_dir = require_product(products, s.dataset, context.name)
        loaded = load_model(context, products)
        module = RLModule(
            loaded.model, loaded.processor, c.rollout, c.reward, c.algorithm, c.replay, c.rethink, s
        )
        # Several ranks each roll out a share of the batch, in chunks of their own: the loader
        # prepares whole batches only for a single process.
        encoding = module.prompt_encoding if c.trainer.processes == 1 else None
        data = RLDataModule(train_dir, s.prompts_per_step, context.seed, s.num_workers, encoding)
        checkpoint = RLCheckpoint(context.stage_dir / "checkpoints", s.save_every_n_steps)
        loggers = c.logger.build(context.name, context.stage_dir, context.config)
        stops = stop_callbacks(
            context.name, save=checkpoint.save_now, step=lambda t, m: m.rl_step, every_batch=True
        )
        trainer = c.trainer.build(
            progress=(context.name, lambda t, m: m.max_steps, lambda t, m: m.rl_step),
            max_steps=-1,  # the module stops the Trainer after max_steps RL steps
            max_epochs=-1,
            log_every_n_steps=s.log_every_n_steps,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            callbacks=[
                RolloutSamples(context.stage_dir, s.samples_every_n_steps, s.samples_max_rows),
                checkpoint,
                *stops,
            ],
            enable_checkpointing=False,  # RLCheckpoint counts RL steps; no default ModelCheckpoint
            logger=loggers,
            default_root_dir=str(context.stage_dir),
        )
        module.model.train()
        resumable_fit(
            trainer,
            module,
            data,
            checkpoint.last,
            loggers,
            context.name,
            weights_only=False,  # the checkpoint holds the replay store (trajectories) and RNG states
        )
        metrics = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if k.startswith(("train/", "rollout/", "reward/", "replay/"))
        }
        metrics[f"{context.name}/steps"] = float(module.rl_step)

        out = export_model(trainer, module.model, loaded.processor, context.stage_dir / "model")
        return StageResult(products={"model": str(out)}, metrics=metrics)
