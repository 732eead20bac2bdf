"""`vrl.trainer.log_step_metrics` (the RL step's logging) against Lightning's own `log_dict`:
the same CSV rows at the same steps (every `log_every_n_steps` and on the stopping step) and the
same `callback_metrics`, with a real Trainer and `vrl.metrics_csv.ResumableCSVLogger`."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
import torch

from vrl.metrics_csv import ResumableCSVLogger
from vrl.trainer import log_step_metrics

STEPS = 5


class _Module(L.LightningModule):
    automatic_optimization = False

    def __init__(self, direct: bool) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.direct = direct
        self.steps = 0

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.steps += 1
        metrics = {"train/a": float(batch.sum()), "train/step": float(self.steps)}
        if self.steps >= STEPS:
            self.trainer.should_stop = True
        if self.direct:
            log_step_metrics(self.trainer, metrics)
        else:
            self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(torch.arange(20.0).reshape(20, 1), batch_size=1)


def _fit(tmp: Path, direct: bool, every: int) -> tuple[list[dict[str, str]], dict[str, float]]:
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=ResumableCSVLogger(str(tmp / ("direct" if direct else "lightning"))),
        log_every_n_steps=every,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(_Module(direct))
    path = next((tmp / ("direct" if direct else "lightning")).rglob("metrics.csv"))
    rows = list(csv.DictReader(path.open()))
    # Tensors, as Lightning's callbacks read them (EarlyStopping squeezes, ModelCheckpoint compares).
    assert all(v.dim() == 0 and v.dtype == torch.float32 for v in trainer.callback_metrics.values())
    return rows, {k: float(v) for k, v in trainer.callback_metrics.items()}


@pytest.mark.parametrize("every", [1, 2])
def test_the_rl_steps_own_logging_writes_what_log_dict_writes(tmp_path, every):
    rows, callback = _fit(tmp_path, direct=True, every=every)
    expected_rows, expected_callback = _fit(tmp_path, direct=False, every=every)
    assert rows == expected_rows
    assert callback == expected_callback == {"train/a": STEPS - 1.0, "train/step": float(STEPS)}
    steps = [int(r["step"]) for r in rows]
    assert steps == ([0, 1, 2, 3, 4] if every == 1 else [1, 3, 4])  # the stopping step is logged
