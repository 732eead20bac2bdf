"""The `sft` stage: supervised fine-tuning with Lightning; checkpoints and resumes; saves an HF model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vrl.errors import ConfigError
from vrl.sft.settings import SFTSettings
from vrl.stages.base import StageContext, StageResult, need, require_product
from vrl.stages.common import export_model, load_model
from vrl.stages.preflight import check_trainer
from vrl.stages.training import StepCheckpoint, resumable_fit, save_checkpoint, stop_callbacks

log = logging.getLogger("vrl")


class SFTStage:
    """Fine-tune the current model (the `model` product, else the configured model) on a
    sample dataset product.

    Args:
        settings: every setting of the stage (`vrl.sft.settings.SFTSettings`).
    Products: model (an HF directory at `<stage>/model`). Resumes from `<stage>/checkpoints/last.ckpt`
    (weights, optimizer, schedule, the data position inside the epoch, every rank's RNGs); a
    stop signal saves it at the end of the current optimizer step (`vrl.stages.training`).
    """

    all_ranks = True  # every rank trains (vrl.run); rank 0 writes the products

    def __init__(self, settings: SFTSettings) -> None:
        self.settings = settings
        self.requires = (settings.dataset,)
        self.reads = ("model",) + ((settings.val_dataset,) if settings.val_dataset else ())
        self.writes = ("model",)

    def check(self, context: StageContext) -> None:
        need(context.components.model, "sft", "model", "tiny_qwen2_5_vl")
        check_trainer(need(context.components.trainer, "sft", "trainer", "cpu"))
        need(context.components.logger, "sft", "logger", "default")

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from lightning.pytorch.callbacks import LearningRateMonitor

        from vrl.sft.collate import SFTCollator
        from vrl.sft.datamodule import SFTDataModule
        from vrl.sft.module import SFTModule

        s = self.settings
        train_dir = require_product(products, s.dataset, context.name)
        val_dir = (
            require_product(products, s.val_dataset, context.name) if s.val_dataset in products else None
        )
        templates = [s.response_template.replace("{answer}", "").replace("{category}", "")]
        loaded = load_model(context, products, extra_texts=templates)
        collator = SFTCollator(loaded.processor, s.response_template, s.max_length)
        check_response_room(collator, train_dir, context.name)
        data = SFTDataModule(train_dir, val_dir, collator, s.batch_size, context.seed, s.num_workers)
        module = SFTModule(loaded.model, s)

        ckpt_dir = context.stage_dir / "checkpoints"
        checkpoint = StepCheckpoint(ckpt_dir, s.save_every_n_steps)
        loggers = context.components.logger.build(context.name, context.stage_dir, context.config)
        resume = ckpt_dir / "last.ckpt"
        stops = stop_callbacks(
            context.name, save=lambda t: save_checkpoint(t, resume), step=lambda t, m: t.global_step
        )
        trainer = context.components.trainer.build(
            progress=(context.name, _sft_total_steps, lambda t, m: t.global_step),
            max_steps=s.max_steps,
            max_epochs=s.max_epochs if s.max_epochs is not None else -1,
            accumulate_grad_batches=s.accumulate_grad_batches,
            gradient_clip_val=s.gradient_clip_val or None,
            val_check_interval=s.val_every_n_steps * s.accumulate_grad_batches,
            check_val_every_n_epoch=None,
            log_every_n_steps=s.log_every_n_steps,
            num_sanity_val_steps=0,
            callbacks=[checkpoint, LearningRateMonitor(logging_interval="step"), *stops],
            logger=loggers,
            default_root_dir=str(context.stage_dir),
            use_distributed_sampler=False,  # SFTDataModule shards by rank itself, resumably
        )
        module.model.train()  # loaders return eval mode; dropout etc. must be live while training
        resumable_fit(
            trainer,
            module,
            data,
            resume,
            loggers,
            context.name,
            weights_only=False,  # the run's own checkpoint: it holds the RNG states (numpy, random)
        )
        metrics = {
            k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("train/", "val/"))
        }
        metrics[f"{context.name}/steps"] = float(trainer.global_step)

        out = export_model(trainer, module.model, loaded.processor, context.stage_dir / "model")
        return StageResult(products={"model": str(out)}, metrics=metrics)


def _sft_total_steps(trainer: Any, module: Any) -> int:
    """Optimizer steps the SFT stage takes: `max_steps`, or Lightning's estimate from epochs."""
    return trainer.max_steps if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)


def check_response_room(collator: Any, train_dir: Path, stage: str, probe: int = 32) -> None:
    """Before training: the first `probe` training examples keep response tokens within
    `max_length` (the prompt is never cut, so a prompt longer than it leaves nothing to learn:
    a loss of 0.0 over zero tokens). None kept: a one-line ConfigError; some: a warning."""
    from datasets import load_from_disk

    from vrl.data.schema import Sample

    dataset = load_from_disk(str(train_dir))
    n = min(probe, len(dataset))
    empty, longest = 0, 0
    for row in dataset.select(range(n)):
        mask = collator.encode(Sample.from_record(row))["loss_mask"]
        if int(mask.sum()) == 0:
            empty += 1
            longest = max(longest, int(mask.numel()))
    if n and empty == n:
        raise ConfigError(
            f"stage.{stage}.max_length={collator.max_length} leaves no response token in any of the first "
            f"{n} training examples (their prompts alone take up to {longest} tokens): raise it above {longest}"
        )
    if empty:
        log.warning(
            "stage %s: %d of the first %d training examples have no response token within max_length=%d "
            "(prompts up to %d tokens); they teach nothing",
            stage,
            empty,
            n,
            collator.max_length,
            longest,
        )
