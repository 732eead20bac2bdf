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
from vrl.trainer import adamw, rng_state, set_rng_state


class SFTModule(L.LightningModule):
    """Fine-tunes a VLM on (prompt, response) batches from `SFTCollator`.

    Args:
        model: a transformers VLM (any strategy: single device, DDP, FSDP, DeepSpeed).
        settings: the stage's `SFTSettings` (optimizer and schedule: `lr`, `weight_decay`,
            `warmup_steps`, `lr_schedule`, `min_lr_ratio`). A cosine schedule decays over the
            run's real length (Lightning's `estimated_stepping_batches`: `max_steps`, or
            `max_epochs` x optimizer steps per epoch).
    Logs train/loss (nats/token), train/tokens_per_s, val/loss.

    Several ranks: the data module shards every batch; DDP averages the ranks' gradients.
    `val/loss` is exact over the whole validation set (every rank's NLL sum and token count are
    added before dividing). Checkpoints hold every global RNG (per rank), restored just before
    the first batch after a resume, once Lightning has built the loader: a resumed run draws
    what the uninterrupted one drew.
    """

    def __init__(self, model: Any, settings: SFTSettings) -> None:
        super().__init__()
        self.model = model
        self.settings = settings
        self._tick = time.perf_counter()
        self._val_sums = torch.zeros(2, dtype=torch.float64)  # NLL sum, target tokens
        self._rng_to_restore: dict[str, Any] | None = None

    def configure_model(self) -> None:
        shard = getattr(self.trainer.strategy, "shard", None)  # vrl.trainer.FSDP2Strategy
        if shard is not None:
            shard(self.model)

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

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(2, dtype=torch.float64)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, tokens = self._loss(batch)
        self._val_sums += torch.tensor([float(loss) * tokens, tokens], dtype=torch.float64)

    def on_validation_epoch_end(self) -> None:
        nll, tokens = self.trainer.strategy.reduce(self._val_sums.to(self.device), reduce_op="sum").tolist()
        self.log("val/loss", nll / max(tokens, 1.0), prog_bar=True, rank_zero_only=True)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from vrl.distributed import gather_objects

        checkpoint["vrl_rng"] = gather_objects(rng_state())  # one per rank

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from vrl.distributed import world

        states = checkpoint.get("vrl_rng") or []
        here = world()
        if len(states) == here.size:
            self._rng_to_restore = states[here.rank]

    def configure_optimizers(self) -> Any:
        s = self.settings
        optimizer = adamw(
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
