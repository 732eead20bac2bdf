"""SFT data: the materialised sample datasets (products) with `SFTCollator`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from vrl.sft.collate import SFTCollator


class SFTDataModule(L.LightningDataModule):
    """Train/val loaders over datasets saved with `save_to_disk`; shuffling is seeded."""

    def __init__(
        self,
        train_dir: Path,
        val_dir: Path | None,
        collator: SFTCollator,
        batch_size: int,
        seed: int,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.train_dir, self.val_dir = train_dir, val_dir
        self.collator = collator
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers

    def setup(self, stage: str | None = None) -> None:
        from datasets import load_from_disk

        self.train = load_from_disk(str(self.train_dir))
        self.val = load_from_disk(str(self.val_dir)) if self.val_dir else None

    def _loader(self, dataset: Any, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            collate_fn=self.collator,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(self.val, shuffle=False)] if self.val is not None and len(self.val) else []
