"""The `sft` stage: supervised fine-tuning with Lightning; checkpoints and resumes; saves an HF model."""

from __future__ import annotations

import logging
from typing import Literal

from vrl.loggers import finish
from vrl.stages.base import StageContext, StageResult, require_product
from vrl.stages.common import export_model, load_model

log = logging.getLogger("vrl")


class SFTStage:
    """Fine-tune the current model on a sample dataset product.

    Args:
        dataset: product key of the training set ("train_data"; V-Thinker's perception and
            interaction SFT stages name their own datasets).
        val_dataset: product key of the validation set, or None.
        response_template: the assistant reply, str.format fields {answer}, {category}.
        max_steps: optimizer steps (each `batch_size * accumulate_grad_batches` samples); -1 = no cap.
        max_epochs: passes over the dataset (None = bounded by max_steps only).
        batch_size: samples per micro-batch.
        accumulate_grad_batches: micro-batches per optimizer step.
        lr, weight_decay, warmup_steps: AdamW schedule (linear warmup from 0 to lr).
        lr_schedule: after warmup, "constant" or "cosine" (decays to lr * min_lr_ratio at max_steps).
        min_lr_ratio: the cosine schedule's floor, as a fraction of lr.
        gradient_clip_val: max global grad norm (0 = off).
        max_length: tokens per example (response cut first).
        val_every_n_steps, save_every_n_steps, log_every_n_steps: in optimizer steps.
    Products: model (an HF directory at `<stage>/model`). Resumes from `<stage>/checkpoints/last.ckpt`.
    """

    def __init__(
        self,
        dataset: str = "train_data",
        val_dataset: str | None = "val_data",
        response_template: str = "\\boxed{{{answer}}}",
        max_steps: int = 300,
        max_epochs: int | None = None,
        batch_size: int = 16,
        accumulate_grad_batches: int = 1,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 10,
        lr_schedule: Literal["constant", "cosine"] = "constant",
        min_lr_ratio: float = 0.1,
        gradient_clip_val: float = 1.0,
        max_length: int = 512,
        val_every_n_steps: int = 100,
        save_every_n_steps: int = 50,
        log_every_n_steps: int = 5,
        num_workers: int = 0,
    ) -> None:
        self.dataset, self.val_dataset = dataset, val_dataset
        self.response_template = response_template
        self.max_steps, self.max_epochs, self.batch_size = max_steps, max_epochs, batch_size
        self.accumulate_grad_batches = accumulate_grad_batches
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.lr_schedule, self.min_lr_ratio = lr_schedule, min_lr_ratio
        self.gradient_clip_val = gradient_clip_val
        self.max_length = max_length
        self.val_every_n_steps = val_every_n_steps
        self.save_every_n_steps = save_every_n_steps
        self.log_every_n_steps = log_every_n_steps
        self.num_workers = num_workers

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult:
        from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

        from vrl.sft.collate import SFTCollator
        from vrl.sft.datamodule import SFTDataModule
        from vrl.sft.module import SFTModule

        train_dir = require_product(products, self.dataset, context.name)
        val_dir = (
            require_product(products, self.val_dataset, context.name)
            if self.val_dataset in products
            else None
        )
        templates = [self.response_template.replace("{answer}", "").replace("{category}", "")]
        loaded = load_model(context, products, extra_texts=templates)
        collator = SFTCollator(loaded.processor, self.response_template, self.max_length)
        data = SFTDataModule(train_dir, val_dir, collator, self.batch_size, context.seed, self.num_workers)
        cosine = self.lr_schedule == "cosine" and self.max_steps > 0
        module = SFTModule(
            loaded.model,
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps,
            decay_steps=max(0, self.max_steps - self.warmup_steps) if cosine else 0,
            min_lr_ratio=self.min_lr_ratio,
        )

        ckpt_dir = context.stage_dir / "checkpoints"
        checkpoint = ModelCheckpoint(
            dirpath=ckpt_dir, save_last=True, save_top_k=0, every_n_train_steps=self.save_every_n_steps
        )
        loggers = context.components.logger.build(context.name, context.stage_dir, context.config)
        trainer = context.components.trainer.build(
            max_steps=self.max_steps,
            max_epochs=self.max_epochs if self.max_epochs is not None else -1,
            accumulate_grad_batches=self.accumulate_grad_batches,
            gradient_clip_val=self.gradient_clip_val or None,
            val_check_interval=self.val_every_n_steps * self.accumulate_grad_batches,
            check_val_every_n_epoch=None,
            log_every_n_steps=self.log_every_n_steps,
            num_sanity_val_steps=0,
            callbacks=[checkpoint, LearningRateMonitor(logging_interval="step")],
            logger=loggers,
            default_root_dir=str(context.stage_dir),
        )
        resume = ckpt_dir / "last.ckpt"
        if resume.exists():
            log.info("stage %s: resuming from %s", context.name, resume)
        module.model.train()  # loaders return eval mode; dropout etc. must be live while training
        trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume.exists() else None)
        metrics = {
            k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("train/", "val/"))
        }
        metrics[f"{context.name}/steps"] = float(trainer.global_step)
        finish(loggers)

        out = export_model(trainer, module.model, loaded.processor, context.stage_dir / "model")
        return StageResult(products={"model": str(out)}, metrics=metrics)
