"""The SFT stage's periodic checkpoint: after a validation due at the same step (so a kill during
that validation reruns it on resume), and never a truncated file."""

from __future__ import annotations

import os
import signal

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader

from vrl.interrupt import GUARD, Interrupted
from vrl.stages.training import StepCheckpoint, save_checkpoint, stop_callbacks


class _Events(Callback):
    """Records the order of steps, validation runs and checkpoint writes."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.events.append(f"step {trainer.global_step}")

    def on_validation_end(self, trainer, pl_module) -> None:
        self.events.append(f"validate {trainer.global_step}")

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.events.append(f"save {trainer.global_step}")


class _Linear(L.LightningModule):
    def __init__(self, validate: bool) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.validate = validate

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).sum()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.layer(batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(torch.ones(16, 2), batch_size=2)

    def val_dataloader(self) -> list[DataLoader]:
        return [DataLoader(torch.ones(4, 2), batch_size=2)] if self.validate else []


def _events(tmp_path, validate: bool, save_every: int, val_every: int) -> list[str]:
    recorder = _Events()
    trainer = L.Trainer(
        max_steps=6,
        val_check_interval=val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[StepCheckpoint(tmp_path / "ckpt", save_every), recorder],
    )
    trainer.fit(_Linear(validate))
    return recorder.events


def test_a_checkpoint_due_with_a_validation_is_written_after_it(tmp_path):
    events = _events(tmp_path, validate=True, save_every=2, val_every=4)
    assert events == [
        "step 1", "step 2", "save 2", "step 3", "step 4", "validate 4", "save 4", "step 5", "step 6", "save 6",
    ]  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["last.ckpt"], "no .tmp left behind"


@pytest.mark.parametrize("validate", [False, True])
def test_checkpoints_without_a_coinciding_validation_are_written_at_the_step_end(tmp_path, validate):
    events = _events(tmp_path, validate=validate, save_every=3, val_every=4)
    saves = [e for e in events if e.startswith("save")]
    assert saves == ["save 3", "save 6"]
    assert events.index("save 3") == events.index("step 3") + 1
    assert ("validate 4" in events) == validate


class _SignalledAt(_Linear):
    """Sends this process SIGUSR1 during the step that makes global step `at`."""

    def __init__(self, at: int) -> None:
        super().__init__(validate=True)
        self.at = at

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        if self.global_step + 1 == self.at:
            os.kill(os.getpid(), signal.SIGUSR1)
        return super().training_step(batch, batch_idx)


@pytest.mark.parametrize(
    ("at", "order"), [(4, ["step 4", "validate 4", "save 4"]), (3, ["step 3", "save 3"])]
)
def test_a_stop_signal_waits_for_the_validation_of_its_step(tmp_path, at, order):
    recorder = _Events()
    stops = stop_callbacks(
        "sft", save=lambda t: save_checkpoint(t, tmp_path / "last.ckpt"), step=lambda t, m: t.global_step
    )
    trainer = L.Trainer(
        max_steps=6,
        val_check_interval=4,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[recorder, *stops],
    )
    try:
        with pytest.raises(Interrupted) as stopped:
            trainer.fit(_SignalledAt(at))
    finally:
        GUARD.restore()
    assert stopped.value.signum == signal.SIGUSR1 and stopped.value.step == at
    assert recorder.events[-len(order) :] == order, recorder.events
    assert (tmp_path / "last.ckpt").exists()
