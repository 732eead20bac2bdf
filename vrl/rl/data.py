"""RL prompts: an endless, seeded, resumable stream of `Sample` batches from a dataset product."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset

from vrl.data.schema import Sample


class PromptStream(IterableDataset):
    """Yields `{"position": k, "samples": [Sample] * batch_size}` for k = start, start + 1, ...

    Every rank gets the whole batch k; the RL step splits it by rank itself (whole groups per
    rank, `vrl.rl.distributed`), and needs the whole batch to put gathered trajectories back in
    prompt order.

    Batch k is a pure function of (seed, k): epoch e = k * batch_size // len(dataset) is a
    fresh seeded permutation, so a run resumed at position k sees exactly the batches it
    would have seen (set `start` before iterating).
    """

    def __init__(self, dataset: Any, batch_size: int, seed: int, start: int = 0) -> None:
        if len(dataset) == 0:
            raise ValueError("the RL training set is empty")
        self.dataset, self.batch_size, self.seed, self.start = dataset, batch_size, seed, start

    def batch_at(self, position: int) -> list[Sample]:
        size = len(self.dataset)
        orders: dict[int, torch.Tensor] = {}  # epoch -> its permutation, drawn once per batch
        indices = []
        for flat in range(position * self.batch_size, (position + 1) * self.batch_size):
            epoch, offset = divmod(flat, size)
            if epoch not in orders:
                orders[epoch] = torch.randperm(
                    size, generator=torch.Generator().manual_seed(self.seed + epoch)
                )
            indices.append(int(orders[epoch][offset]))
        # A `datasets.Dataset` reads the batch's rows in one Arrow call (half the time of row by row).
        fetch = getattr(self.dataset, "__getitems__", None)
        records = fetch(indices) if fetch is not None else [self.dataset[i] for i in indices]
        return [Sample.from_record(record) for record in records]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        position = self.start
        while True:
            yield {"position": position, "samples": self.batch_at(position)}
            position += 1


class RLDataModule(L.LightningDataModule):
    """Prompt batches for the RL stage. The stream starts where the module's checkpoint says
    (`data_position` of the LightningModule, restored before the loader is built)."""

    def __init__(self, train_dir: Path, prompts_per_step: int, seed: int) -> None:
        super().__init__()
        self.train_dir, self.prompts_per_step, self.seed = train_dir, prompts_per_step, seed

    def setup(self, stage: str | None = None) -> None:
        from datasets import load_from_disk

        self.train = load_from_disk(str(self.train_dir))

    def prompts_at(self, position: int) -> list[Sample]:
        """Batch `position` of the stream (dynamic sampling pulls extra batches with it)."""
        return PromptStream(self.train, self.prompts_per_step, self.seed).batch_at(position)

    def train_dataloader(self) -> DataLoader:
        start = int(getattr(self.trainer.lightning_module, "data_position", 0)) if self.trainer else 0
        stream = PromptStream(self.train, self.prompts_per_step, self.seed, start=start)
        # Its own generator: building the loader's iterator never draws on the global RNG.
        return DataLoader(
            stream,
            batch_size=None,
            collate_fn=_identity,
            num_workers=0,
            generator=torch.Generator().manual_seed(self.seed),
        )


def _identity(batch: Any) -> Any:
    return batch
