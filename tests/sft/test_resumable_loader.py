"""The SFT loader resumed by Lightning from a checkpoint at any step sees exactly the samples an
uninterrupted run sees from that step on: mid-epoch, and on an epoch's last batch (where a
carried-over skip once emptied the next epoch and the run trained on the permutation after it)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from vrl.sft.datamodule import ResumableLoader, ShardedBatches

SAMPLES, BATCH, STEPS = 12, 2, 10  # 6 batches an epoch: the run crosses one epoch boundary


class _Recorder(L.LightningModule):
    """Trains nothing useful; records the sample ids of every step."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[int, list[int]]] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.seen.append((self.global_step, batch["id"].tolist()))
        return (self.weight * batch["id"].float()).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self) -> ResumableLoader:
        dataset = [{"id": i} for i in range(SAMPLES)]
        batches = ShardedBatches(SAMPLES, BATCH, shuffle=True, seed=7)
        return ResumableLoader(
            dataset, batches, collate_fn=lambda rows: {"id": torch.tensor([r["id"] for r in rows])}
        )


def _fit(root, ckpt_path=None) -> list[tuple[int, list[int]]]:
    module = _Recorder()
    trainer = L.Trainer(
        max_steps=STEPS,
        max_epochs=-1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=True,
        default_root_dir=str(root),
        callbacks=[ModelCheckpoint(dirpath=str(root / "ckpt"), every_n_train_steps=1, save_top_k=-1)],
    )
    trainer.fit(module, ckpt_path=ckpt_path)
    return module.seen


@pytest.mark.parametrize("resume_after", [3, 6, 7])  # mid-epoch, an epoch's last batch, just after
def test_resumed_loader_sees_what_the_uninterrupted_run_sees(tmp_path, resume_after):
    straight = _fit(tmp_path / "straight")
    assert len(straight) == STEPS
    ckpt = next((tmp_path / "straight" / "ckpt").glob(f"*step={resume_after}.ckpt"))
    resumed = _fit(tmp_path / "resumed", ckpt_path=str(ckpt))
    assert resumed == straight[resume_after:]
