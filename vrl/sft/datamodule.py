"""SFT data: the materialised sample datasets (products), sharded over ranks and resumable mid-epoch.

Epoch e visits the training set in a seeded permutation (seed + e). Its batches are cut from the
permutation `batch_size * world_size` samples at a time, and rank r takes the r-th contiguous
share of each cut, so one step of W ranks sees the samples one step of one process with a W
times larger batch would see. The last cut of an epoch may be short: it is shared as evenly as
possible, and a rank left without a sample gets one padding row (the epoch's first sample,
loss mask 0) so every rank takes the same number of steps (DDP needs that). Every sample is
trained on exactly once per epoch, on exactly one rank: nothing dropped, nothing twice.

`ResumableLoader` implements Lightning's `state_dict`/`load_state_dict` loader protocol (the fit
loop saves it in every checkpoint): a run stopped after batch k of epoch e resumes at batch k + 1
of the same permutation, where Lightning's plain loaders restart the epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from vrl.distributed import shard_bounds
from vrl.sft.collate import SFTCollator

PADDING = "_vrl_padding"  # record key: a row that only keeps ranks in step (loss mask 0)


class ShardedBatches:
    """Batch sampler: this rank's batches of `n` samples, `(index, is_real)` pairs.

    Args:
        n: dataset size.
        batch_size: samples per batch on each rank.
        shuffle: a seeded permutation per epoch (else dataset order).
        seed: permutation seed (epoch e uses seed + e).
        rank, world_size: this rank and the number of ranks.
    """

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if n == 0:
            raise ValueError("the SFT dataset is empty")
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.skip = 0  # batches of `epoch` already trained (set on resume, used once)
        self.sampler = self  # Lightning calls `set_epoch` on `loader.batch_sampler.sampler`

    def set_epoch(self, epoch: int) -> None:
        """Lightning's call at each epoch start. A resume position belongs to the epoch it was
        saved in: a checkpoint taken on an epoch's last batch resumes at the next epoch's first
        batch (skipping its whole length there made Lightning run an empty epoch and train on
        the permutation after it)."""
        if int(epoch) != self.epoch:
            self.skip = 0
        self.epoch = int(epoch)

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()

    def batches(self, epoch: int) -> list[list[tuple[int, bool]]]:
        """Every batch of this rank in `epoch`."""
        order = self.order(epoch)
        cut = self.batch_size * self.world_size
        out = []
        for start in range(0, self.n, cut):
            chunk = order[start : start + cut]
            lo, hi = shard_bounds(len(chunk), self.rank, self.world_size)
            mine = [(i, True) for i in chunk[lo:hi]]
            out.append(mine or [(order[0], False)])
        return out

    def __len__(self) -> int:
        return -(-self.n // (self.batch_size * self.world_size))

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        skip, self.skip = self.skip, 0
        yield from self.batches(self.epoch)[skip:]


class _Rows(Dataset):
    """`dataset[(index, is_real)]`: the record, flagged when it is padding."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, bool]) -> dict[str, Any]:
        index, real = key
        return {**self.dataset[int(index)], PADDING: not real}


class _Collate:
    """The SFT collator, with padding rows' loss mask zeroed."""

    def __init__(self, collator: SFTCollator) -> None:
        self.collator = collator

    def __call__(self, records: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        padding = [bool(r.pop(PADDING, False)) for r in records]
        batch = self.collator(records)
        if any(padding):
            batch["loss_mask"][torch.tensor(padding)] = 0
        return batch


class ResumableLoader(DataLoader):
    """A DataLoader over `ShardedBatches` that Lightning can checkpoint mid-epoch.

    State: the epoch and how many of its batches were handed out. Lightning fetches no batch
    ahead for a loader with a length, so at a checkpoint that count is exactly the batches
    trained."""

    def __init__(self, dataset: Any, batches: ShardedBatches, collate_fn: Any, num_workers: int = 0) -> None:
        super().__init__(
            _Rows(dataset),
            batch_sampler=batches,
            collate_fn=collate_fn,
            num_workers=num_workers,
            generator=torch.Generator().manual_seed(batches.seed),  # never draws on the global RNG
        )
        self._yielded = 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        batches: ShardedBatches = self.batch_sampler  # type: ignore[assignment]
        self._yielded = batches.skip
        for batch in super().__iter__():
            self._yielded += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.batch_sampler.epoch, "batches": self._yielded}  # type: ignore[union-attr]

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.epoch = int(state["epoch"])  # type: ignore[union-attr]
        self.batch_sampler.skip = int(state["batches"])  # type: ignore[union-attr]


class SFTDataModule(L.LightningDataModule):
    """Train/val loaders over datasets saved with `save_to_disk`, sharded over the trainer's ranks."""

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

    def _ranks(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, dataset: Any, shuffle: bool) -> ResumableLoader:
        rank, world_size = self._ranks()
        batches = ShardedBatches(len(dataset), self.batch_size, shuffle, self.seed, rank, world_size)
        return ResumableLoader(dataset, batches, _Collate(self.collator), self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(self.val, shuffle=False)] if self.val is not None and len(self.val) else []
