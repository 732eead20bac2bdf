"""Does the read-ahead thread pay for itself? A step-like loop on one thread: a stand-in for the
model (small operators called from Python, ~150 ms) runs forward and backward, then the next prompt batch is taken from the RL loader (one worker running the engine's prompt encoding,
as `stage.rl.num_workers=1`); the plain DataLoader and `ReadAheadLoader` alternate, 20 blocks
of 5 steps each, in one process (the machine's drift hits both alike).

    OMP_NUM_THREADS=1 PYTHONPATH=. python experiments/rl_speed/round_three/read_ahead_bench.py \
        /tmp/default_fast/sft/model /tmp/default_fast/data/train

Prints the median wall ms of a step, of its model part and of its fetch, per loader.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import queue
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch
from datasets import load_from_disk
from torch.utils.data import DataLoader

from vrl.model.processor import load_processor
from vrl.policy.images import PromptEncoding
from vrl.rl.data import PromptStream, _identity

# The thread reader tried in round three (not kept in vrl: no wall-time gain, see README).
_POLL_S = 0.1  # how often a waiting thread checks that it should stop


class ReadAheadLoader(DataLoader):
    """A `DataLoader` (same arguments) whose iterator is read by a thread, `depth` batches ahead
    of the consumer. Needs `num_workers > 0` (without workers the loading itself would run in
    the thread, competing with the trainer for the GIL). `close()` stops the thread; the
    workers end as a DataLoader's do."""

    def __init__(self, *args: Any, depth: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.num_workers < 1:
            raise ValueError("ReadAheadLoader needs num_workers >= 1")
        self.depth = depth
        self._reader: _Reader | None = None

    def __iter__(self) -> Iterator[Any]:
        self.close()  # a new pass: the last one's thread must not read on
        # The DataLoader's iterator is made here, in the caller's thread (it installs PyTorch's
        # SIGCHLD handler, which only the main thread can).
        self._reader = _Reader(super().__iter__(), self.depth)
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class _Reader:
    """Iterator over `source`, filled by a daemon thread; the source's exceptions (a worker's
    error, its end) are raised to the consumer, in order."""

    def __init__(self, source: Iterator[Any], depth: int) -> None:
        self._source = source
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="vrl-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                item = ("batch", next(self._source))
            except BaseException as error:  # noqa: BLE001 - StopIteration included: the consumer raises it
                item = ("error", error)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if item[0] == "error":
                return

    def __iter__(self) -> _Reader:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                kind, value = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive():
                    raise StopIteration from None  # closed
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        """Stop the thread (it finishes the batch it is taking, if any) and drop what it read."""
        self._stop.set()
        self._thread.join(timeout=30)
        while not self._queue.empty():
            self._queue.get_nowait()


class WidePipeContext(type(multiprocessing.get_context("fork"))):
    """The fork context, whose queues' pipes hold up to 1 MiB (the unprivileged maximum)."""

    def Queue(self, maxsize: int = 0):  # noqa: N802 - multiprocessing's name
        queue = super().Queue(maxsize)
        fcntl.fcntl(queue._writer.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        return queue


def main(model_dir: str, train_dir: str) -> None:
    torch.set_num_threads(1)
    processor = load_processor(model_dir)
    dataset = load_from_disk(train_dir)
    # The model's stand-in: many small operators from Python, as the tiny VLM's step runs them
    # (~150 ms a step, forward and backward; each operator releases the GIL while it computes).
    torch.manual_seed(0)
    layers = torch.nn.Sequential(
        *[
            torch.nn.Sequential(torch.nn.Linear(128, 256), torch.nn.GELU(), torch.nn.Linear(256, 128))
            for _ in range(24)
        ]
    )
    x = torch.randn(256, 128)

    def model_part() -> None:
        for _ in range(3):
            layers(x).square().mean().backward()
        layers.zero_grad(set_to_none=True)

    loaders = {}
    for name, kind, context in (
        ("plain", DataLoader, None),
        ("read_ahead", ReadAheadLoader, None),
        ("wide_pipe", DataLoader, WidePipeContext()),
    ):
        stream = PromptStream(dataset, 16, seed=0, encode=PromptEncoding(processor, 128))
        loader = kind(
            stream,
            batch_size=None,
            collate_fn=_identity,
            num_workers=1,
            persistent_workers=True,
            multiprocessing_context=context,
        )
        loaders[name] = iter(loader)
        next(loaders[name])
    times = {name: {"step": [], "model": [], "fetch": []} for name in loaders}
    for _ in range(3):
        model_part()
    for _block in range(20):
        for name, batches in loaders.items():
            for _ in range(5):
                start = time.perf_counter()
                model_part()
                middle = time.perf_counter()
                next(batches)
                end = time.perf_counter()
                times[name]["step"].append(end - start)
                times[name]["model"].append(middle - start)
                times[name]["fetch"].append(end - middle)
    for name, parts in times.items():
        medians = ", ".join(f"{part} {statistics.median(v) * 1e3:.1f}" for part, v in parts.items())
        print(f"{name}: median ms per step: {medians} ({len(parts['step'])} steps)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
