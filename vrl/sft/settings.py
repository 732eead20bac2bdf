"""`SFTSettings`: every setting of an SFT stage, each with its one default.

Built from `vrl/conf/stage/sft.yaml` (its `_target_`), handed whole to `vrl.stages.SFTStage` and to
`vrl.sft.module.SFTModule`. The defaults suit a 7B VLM on GPUs (V-Thinker's perception SFT: one
epoch at lr 1e-5, 32 samples per step); the embedded CPU default overrides what its tiny model
needs in `conf/scale/cpu_tiny.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vrl.settings import require


@dataclass(frozen=True)
class SFTSettings:
    """One SFT stage.

    Attributes:
        dataset: product key of the training set ("train_data"; V-Thinker's perception and
            interaction SFT stages name their own datasets).
        val_dataset: product key of the validation set, or None for no validation.
        response_template: the assistant reply for samples without their own response
            segments; `str.format` fields {answer}, {category}.
        max_steps: optimizer steps (each `batch_size * accumulate_grad_batches` samples);
            -1 = bounded by `max_epochs` only.
        max_epochs: passes over the dataset; None = bounded by `max_steps` only.
        batch_size: samples per micro-batch.
        accumulate_grad_batches: micro-batches per optimizer step.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warmup from 0 to `lr`, in optimizer steps.
        lr_schedule: after warmup, "constant" or "cosine" (to `lr * min_lr_ratio` at the last
            step, whether `max_steps` or `max_epochs` bounds the run).
        min_lr_ratio: the cosine schedule's floor, as a fraction of `lr`.
        gradient_clip_val: max global gradient norm (0 = no clipping).
        max_length: tokens per example; the response is cut first.
        val_every_n_steps, save_every_n_steps, log_every_n_steps: in optimizer steps.
        num_workers: DataLoader worker processes (0 = load in the trainer's process).
    """

    dataset: str = "train_data"
    val_dataset: str | None = "val_data"
    response_template: str = "\\boxed{{{answer}}}"
    max_steps: int = -1
    max_epochs: int | None = 1
    batch_size: int = 4
    accumulate_grad_batches: int = 8
    lr: float = 1e-5
    weight_decay: float = 0.0
    warmup_steps: int = 20
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    min_lr_ratio: float = 0.1
    gradient_clip_val: float = 1.0
    max_length: int = 4096
    val_every_n_steps: int = 200
    save_every_n_steps: int = 200
    log_every_n_steps: int = 10
    num_workers: int = 2

    def __post_init__(self) -> None:
        require(bool(self.dataset), "dataset", self.dataset, "a product key, e.g. train_data")
        require(
            self.max_steps == -1 or self.max_steps >= 1,
            "max_steps",
            self.max_steps,
            ">= 1, or -1 with max_epochs",
        )
        require(
            self.max_epochs is None or self.max_epochs >= 1, "max_epochs", self.max_epochs, ">= 1 or null"
        )
        require(
            self.max_steps >= 1 or self.max_epochs is not None,
            "max_steps",
            self.max_steps,
            ">= 1 when max_epochs is null (else the run never ends)",
        )
        require(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        require(
            self.accumulate_grad_batches >= 1, "accumulate_grad_batches", self.accumulate_grad_batches, ">= 1"
        )
        require(self.lr > 0, "lr", self.lr, "> 0")
        require(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        require(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, ">= 0")
        require(
            self.lr_schedule in ("constant", "cosine"), "lr_schedule", self.lr_schedule, "constant or cosine"
        )
        require(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", self.min_lr_ratio, "in [0, 1]")
        require(self.gradient_clip_val >= 0, "gradient_clip_val", self.gradient_clip_val, ">= 0 (0 = off)")
        require(self.max_length >= 2, "max_length", self.max_length, ">= 2 (a prompt token and a target)")
        for key in ("val_every_n_steps", "save_every_n_steps", "log_every_n_steps"):
            require(getattr(self, key) >= 1, key, getattr(self, key), ">= 1")
        require(self.num_workers >= 0, "num_workers", self.num_workers, ">= 0")
        try:
            self.response_template.format(answer="A", category="c")
        except (KeyError, IndexError, ValueError) as error:
            require(
                False,
                "response_template",
                self.response_template,
                f"a str.format template with {{answer}}, {{category}} ({error})",
            )
