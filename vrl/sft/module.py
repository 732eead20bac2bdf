"""The SFT LightningModule: masked next-token loss on assistant tokens, AdamW, warmup."""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

import lightning as L
import torch

from vrl.sft.loss import masked_token_nll
from vrl.sft.settings import SFTSettings


class SFTModule(L.LightningModule):
    """Fine-tunes a VLM on (prompt, response) batches from `SFTCollator`.

    Args:
        model: a transformers VLM (any strategy: single device, DDP, FSDP, DeepSpeed).
        settings: the stage's `SFTSettings` (optimizer and schedule: `lr`, `weight_decay`,
            `warmup_steps`, `lr_schedule`, `min_lr_ratio`). A cosine schedule decays over the
            run's real length (Lightning's `estimated_stepping_batches`: `max_steps`, or
            `max_epochs` x optimizer steps per epoch).
    Logs train/loss (nats/token), train/tokens_per_s, val/loss.
    """

    def __init__(self, model: Any, settings: SFTSettings) -> None:
        super().__init__()
        self.model = model
        self.settings = settings
        self._tick = time.perf_counter()

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        loss_mask = batch["loss_mask"]
        inputs = {k: v for k, v in batch.items() if k != "loss_mask"}
        logits = self.model(**inputs, use_cache=False).logits
        return masked_token_nll(logits, batch["input_ids"], loss_mask), int(loss_mask.sum())

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, tokens = self._loss(batch)
        now = time.perf_counter()
        tokens_per_s = batch["attention_mask"].sum().item() / max(now - self._tick, 1e-6)
        self._tick = now
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        self.log("train/target_tokens", float(tokens), batch_size=batch["input_ids"].shape[0])
        self.log("perf/tokens_per_s", tokens_per_s, batch_size=batch["input_ids"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, _ = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0], sync_dist=True)

    def configure_optimizers(self) -> Any:
        s = self.settings
        optimizer = torch.optim.AdamW(
            [p for p in self.parameters() if p.requires_grad], lr=s.lr, weight_decay=s.weight_decay
        )
        decay = 0
        if s.lr_schedule == "cosine":
            decay = max(0, int(self.trainer.estimated_stepping_batches) - s.warmup_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, partial(lr_factor, warmup=s.warmup_steps, decay=decay, floor=s.min_lr_ratio)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def lr_factor(step: int, warmup: int, decay: int, floor: float) -> float:
    """Multiplier of the peak lr at optimizer step `step`: linear warmup, then cosine to `floor`."""
    if step < warmup:
        return (step + 1) / warmup
    if decay <= 0:
        return 1.0
    progress = min(1.0, (step - warmup) / decay)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
