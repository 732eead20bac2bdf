"""RL prompts: an endless, seeded, resumable stream of `Sample` batches from a dataset product."""

from __future__ import annotations

import atexit
import fcntl
import multiprocessing
import signal
import weakref
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.combined_loader import _shutdown_workers_and_reset_iterator
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from vrl.data.schema import Sample
from vrl.interrupt import STOP_SIGNALS


class PromptStream(IterableDataset):
    """Yields `{"position": k, "samples": [Sample] * batch_size}` for k = start, start + 1, ...
    (and `"encoded"`: `encode(samples)`, when given an `encode`: the engine's prompt encoding,
    `vrl.policy.images.PromptEncoding`, run where the stream runs, a loader worker).

    Every rank gets the whole batch k; the RL step splits it by rank itself (whole groups per
    rank, `vrl.rl.distributed`), and needs the whole batch to put gathered trajectories back in
    prompt order.

    Batch k is a pure function of (seed, k): epoch e = k * batch_size // len(dataset) is a
    fresh seeded permutation, so a run resumed at position k sees exactly the batches it
    would have seen (set `start` before iterating).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        seed: int,
        start: int = 0,
        encode: Callable[[list[Sample]], Any] | None = None,
    ) -> None:
        if len(dataset) == 0:
            raise ValueError("the RL training set is empty")
        self.dataset, self.batch_size, self.seed, self.start = dataset, batch_size, seed, start
        self.encode = encode

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
        # Loader workers take turns (worker i: positions start + i, start + i + workers, ...),
        # which the loader reads back in turn: the batches arrive in position order.
        worker = get_worker_info()
        position, stride = self.start, 1
        if worker is not None:
            position, stride = self.start + worker.id, worker.num_workers
        while True:
            samples = self.batch_at(position)
            batch = {"position": position, "samples": samples}
            if self.encode is not None:
                batch["encoded"] = self.encode(samples)
            yield batch
            position += stride


class RLDataModule(L.LightningDataModule):
    """Prompt batches for the RL stage. The stream starts where the module's checkpoint says
    (`data_position` of the LightningModule, restored before the loader is built)."""

    def __init__(
        self,
        train_dir: Path,
        prompts_per_step: int,
        seed: int,
        num_workers: int = 0,
        encode: Callable[[list[Sample]], Any] | None = None,
    ) -> None:
        super().__init__()
        self.train_dir, self.prompts_per_step, self.seed = train_dir, prompts_per_step, seed
        self.num_workers, self.encode = num_workers, encode

    def setup(self, stage: str | None = None) -> None:
        from datasets import load_from_disk

        self.train = load_from_disk(str(self.train_dir))

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Samples and their encoding: the engine and the policy forwards put what they use on the
        # device themselves (Lightning's walk of the batch cost ~1.6 ms a step).
        return batch

    def prompts_at(self, position: int) -> list[Sample]:
        """Batch `position` of the stream (dynamic sampling pulls extra batches with it)."""
        return PromptStream(self.train, self.prompts_per_step, self.seed).batch_at(position)

    def train_dataloader(self) -> DataLoader:
        start = int(getattr(self.trainer.lightning_module, "data_position", 0)) if self.trainer else 0
        stream = PromptStream(self.train, self.prompts_per_step, self.seed, start=start, encode=self.encode)
        # Its own generator: building the loader's iterator never draws on the global RNG.
        loader = DataLoader(
            stream,
            batch_size=None,
            collate_fn=_identity,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=_leave_stop_signals_to_the_trainer,
            generator=torch.Generator().manual_seed(self.seed),
            multiprocessing_context=wide_pipe_context() if self.num_workers > 0 else None,
        )
        if self.num_workers > 0:
            _WITH_WORKERS.add(loader)
        return loader


# Prompt loaders with (persistent) worker processes, while they live: stopped at exit.
_WITH_WORKERS: weakref.WeakSet[DataLoader] = weakref.WeakSet()


@atexit.register  # after multiprocessing's exit hook (imported with torch), so it runs before it
def _stop_workers() -> None:
    """Stop the workers of prompt loaders still alive at exit (held by an uncollected cycle or a
    traceback): they ignore SIGTERM (`_leave_stop_signals_to_the_trainer`), and multiprocessing's
    exit hook joins its children after sending them one, which would wait forever."""
    for loader in list(_WITH_WORKERS):
        _shutdown_workers_and_reset_iterator(loader)  # what Lightning runs at the end of a fit


PIPE_BYTES = 1 << 20  # Linux's limit for an unprivileged process (/proc/sys/fs/pipe-max-size)


def wide_pipe_context() -> BaseContext:
    """The default multiprocessing context, whose queues' pipes hold `PIPE_BYTES` instead of
    64 KiB. A prompt batch and its encoding (~1.4 MB for the embedded default) crossed the
    default pipe in ~22 turns between the worker's writer and the trainer, each waiting for the
    other to be scheduled: ~4 ms of the trainer's step for ~0.5 ms of unpickling; in 1 MiB
    pipes the worker writes ahead, and the trainer's wait halves (experiments/rl_speed)."""
    base = multiprocessing.get_context()

    class WidePipes(type(base)):  # type: ignore[misc]
        def Queue(self, maxsize: int = 0) -> Any:  # noqa: N802 - multiprocessing's name
            queue = super().Queue(maxsize)
            try:  # the pipe under the queue (Linux); elsewhere, or above a lower limit, as it was
                fcntl.fcntl(queue._writer.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except (AttributeError, OSError):
                pass
            return queue

    return WidePipes()


def _identity(batch: Any) -> Any:
    return batch


def _leave_stop_signals_to_the_trainer(worker_id: int) -> None:
    """A loader worker ignores the stop signals (SLURM's SIGTERM reaches every process of the
    job, Ctrl-C the whole process group): the trainer finishes its step and checkpoints first
    (`vrl.interrupt`), then ends the loader. A worker killed by the signal would make the
    loader raise in the trainer mid-checkpoint (PyTorch's SIGCHLD check)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
