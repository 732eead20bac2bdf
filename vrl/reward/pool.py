"""`RewardPool`: a weighted sum of named reward functions, evaluated in warm worker processes.

Each (function, chunk of completions) is one task with its own deadline. A task that raises
is retried item by item in the worker, so only the failing items become None; a task that
runs past `timeout_s` has its worker killed (and replaced) and all its items become None; a
NaN or infinite value becomes None too. All three are counted, reported in the stats and
logged. A few do not stop the run; a function that fails on more than `max_failure_frac` of
one call's completions does (`RewardFailure`, one line naming the function and the first
error): it is broken, and training on what is left would be training on noise.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import pickle
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from vrl.errors import ConfigError, VrlError
from vrl.partials import plain_partial
from vrl.reward._worker import run_task, serve
from vrl.reward.base import RewardOutput

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 120.0  # importing the reward modules in a fresh worker, on a loaded machine


class RewardFailure(VrlError):
    """A reward function failed (raised, timed out, or gave NaN/inf) on too many completions."""


class _Worker:
    def __init__(self, ctx: Any, functions: Mapping[str, Callable[..., Any]]) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, functions), daemon=True)
        self.process.start()
        child.close()
        try:
            ready = self.conn.poll(_STARTUP_TIMEOUT_S) and self.conn.recv() == "ready"
        except (EOFError, OSError):  # it died while starting (e.g. a reward module failed to import)
            ready = False
        if not ready:
            self.stop(kill=True)
            raise RuntimeError(f"a reward worker did not start within {_STARTUP_TIMEOUT_S:g} s")

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                kill = True
        if kill:
            self.process.kill()
        self.process.join(timeout=5)
        if self.process.is_alive():  # still busy with a task after the polite stop
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


@dataclass(frozen=True)
class PoolSettings:
    """How a `RewardPool` runs its functions (`reward.pool`; every reward option shares these).

    Attributes:
        num_workers: worker processes; 0 runs everything inline in the caller (no time limit,
            for debugging).
        timeout_s: limit for one task (one function on one chunk), in seconds.
        chunk_size: completions per task (one round trip to a worker). A task that times out
            or whose worker dies is run again item by item, each item its own task with its
            own deadline, so only an item that hangs on its own loses its reward (at the cost
            of waiting twice for it); 1 = every item its own task from the start. Per-item
            tasks cost the trainer ~0.4 ms each in a run (128 completions a step: ~47 ms against
            ~5 ms in chunks of 16, `experiments/rl_speed/`).
        context: multiprocessing start method, "forkserver" or "spawn"; never "fork" (the
            trainer holds threads and CUDA state).
        max_failure_frac: stop the run when one function fails (raises, times out, or gives
            NaN/inf) on more than this fraction of one call's completions; 1 = never stop.
            A None the function returns on purpose ("no reward for this one") is no failure.
    """

    num_workers: int = 2
    timeout_s: float = 30.0
    chunk_size: int = 16
    context: str = "forkserver"
    max_failure_frac: float = 0.5

    def __post_init__(self) -> None:
        if self.num_workers < 0:
            raise ConfigError(f"reward.pool.num_workers={self.num_workers} must be >= 0 (0 = inline)")
        if self.timeout_s <= 0:
            raise ConfigError(f"reward.pool.timeout_s={self.timeout_s} must be > 0 (seconds per task)")
        if self.chunk_size < 1:
            raise ConfigError(f"reward.pool.chunk_size={self.chunk_size} must be >= 1")
        if self.context not in ("forkserver", "spawn"):
            raise ConfigError(f"reward.pool.context={self.context!r}: use 'forkserver' or 'spawn'")
        if not (isinstance(self.max_failure_frac, (int, float)) and 0 <= self.max_failure_frac <= 1):
            raise ConfigError(
                f"reward.pool.max_failure_frac={self.max_failure_frac} must be in [0, 1] (1 = never stop)"
            )


class RewardPool:
    """Weighted sum of reward functions `fn(completions, **fields) -> list[float | None]`.

    A resource: `start()` starts the workers (the first call does too), `close()` stops them;
    the run loop owns it and closes it once at the end.

    Args:
        functions: name -> reward function (module-level functions or partials of them, so
            they can be sent to the workers).
        weights: name -> weight in `total`; a missing name weighs 1.0. Weight 0 = computed and
            logged only (e.g. accuracy next to a shaped reward).
        pool: how the functions run (`PoolSettings`; a plain mapping of its fields is accepted,
            so `+reward.pool.timeout_s=60` works on the command line).
    """

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]],
        weights: Mapping[str, float] | None = None,
        pool: PoolSettings | Mapping[str, Any] | None = None,
    ) -> None:
        # Plain partials: Hydra's re-authorize their target on every call, in every worker
        # (vrl.partials).
        self.functions = {str(name): plain_partial(fn) for name, fn in functions.items()}
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(self.functions))
        if unknown:
            raise ConfigError(f"reward.weights names {unknown}, which are not in reward.functions")
        if not self.functions:
            raise ConfigError("reward.functions is empty: name at least one reward function")
        self.weights = {name: float(weights.get(name, 1.0)) for name in self.functions}
        if pool is None or not isinstance(pool, PoolSettings):
            try:
                pool = PoolSettings(**dict(pool or {}))
            except TypeError as error:
                raise ConfigError(
                    f"reward.pool: {error}; its keys: num_workers, timeout_s, chunk_size, context, "
                    "max_failure_frac"
                ) from None
        self.pool = pool
        self._workers: list[_Worker] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> RewardPool:
        """Start the workers now (otherwise the first call does); they stay warm until `close`."""
        if self.pool.num_workers > 0 and not self._workers:
            ctx = mp.get_context(self.pool.context)
            try:
                for _ in range(self.pool.num_workers):
                    self._workers.append(_Worker(ctx, self.functions))
            except (pickle.PicklingError, AttributeError, TypeError) as error:  # a lambda or a closure
                self.close()
                raise ConfigError(
                    f"reward functions cannot be sent to worker processes ({error}); use module-level "
                    "functions (or partials of them), or reward.pool.num_workers=0"
                ) from error
        return self

    def close(self) -> None:
        """Stop the workers."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()

    def __enter__(self) -> RewardPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- scoring -----------------------------------------------------------------------------

    def __call__(self, completions: Sequence[str], **fields: Sequence[Any]) -> RewardOutput:
        """Score B completions. `fields` are lists aligned with them (answer, answer_type,
        choices, finished, forced, ...); every function receives all of them."""
        n = len(completions)
        for key, value in fields.items():
            if len(value) != n:
                raise ValueError(f"reward field {key!r} has {len(value)} values for {n} completions")
        fields = {key: list(value) for key, value in fields.items()}
        tasks = [
            (name, start, min(start + self.pool.chunk_size, n))
            for name in self.functions
            for start in range(0, n, self.pool.chunk_size)
        ]
        values = {name: [None] * n for name in self.functions}
        errors = dict.fromkeys(self.functions, 0)
        timeouts = dict.fromkeys(self.functions, 0)
        nonfinite = dict.fromkeys(self.functions, 0)
        messages: list[str] = []

        def record(
            task: tuple[str, int, int],
            result: list[float | None],
            n_errors: int,
            message: str | None,
            n_nonfinite: int,
        ):
            name, start, end = task
            values[name][start:end] = result
            errors[name] += n_errors
            nonfinite[name] += n_nonfinite
            if message:
                messages.append(f"{name}: {message}")

        if self.pool.num_workers <= 0:
            for task in tasks:
                name, start, end = task
                chunk = {key: value[start:end] for key, value in fields.items()}
                record(task, *run_task(self.functions[name], completions[start:end], chunk))
        else:
            for task, outcome in self._run_in_workers(tasks, list(completions), fields):
                if outcome is None:  # timed out or the worker died
                    timeouts[task[0]] += task[2] - task[1]
                    messages.append(
                        f"{task[0]}: timed out after {self.pool.timeout_s:g} s or its worker died"
                    )
                else:
                    record(task, *outcome)
        if messages:
            log.warning("reward: %d task(s) failed; first: %s", len(messages), messages[0])
        for name, count in nonfinite.items():
            if count:
                log.warning(
                    "reward %s: %d of %d value(s) were NaN/inf (counted as no reward)", name, count, n
                )
        self._check_failures(n, errors, timeouts, nonfinite, messages)
        return self._output(values, errors, timeouts, nonfinite)

    def _check_failures(
        self,
        n: int,
        errors: dict[str, int],
        timeouts: dict[str, int],
        nonfinite: dict[str, int],
        messages: list[str],
    ) -> None:
        """Raise `RewardFailure` for the first function that failed on more than
        `max_failure_frac` of this call's `n` completions."""
        for name in self.functions:
            failed = errors[name] + timeouts[name] + nonfinite[name]
            if n and failed / n > self.pool.max_failure_frac:
                first = next((m.split(": ", 1)[1] for m in messages if m.startswith(f"{name}: ")), None)
                raise RewardFailure(
                    f"reward {name!r} failed on {failed} of {n} completions in one call ({errors[name]} "
                    f"raised, {timeouts[name]} timed out, {nonfinite[name]} gave NaN/inf"
                    + (f"; first: {first[:200]}" if first else "")
                    + f"), more than reward.pool.max_failure_frac={self.pool.max_failure_frac:g}: "
                    "fix the function (or raise the threshold; 1 = never stop)"
                )

    def _run_in_workers(
        self, tasks: list[tuple[str, int, int]], completions: list[str], fields: dict[str, list]
    ):
        """Yield `(task, (values, errors, message) | None)`; None = timed out or crashed."""
        self.start()
        queue = deque(enumerate(tasks))
        idle = list(self._workers)
        running: dict[Any, tuple[_Worker, int, float]] = {}  # conn -> (worker, task index, deadline)
        while queue or running:
            while queue and idle:
                worker = idle.pop()
                index, (name, start, end) = queue.popleft()
                chunk = {key: value[start:end] for key, value in fields.items()}
                try:
                    worker.conn.send((index, name, completions[start:end], chunk))
                except (BrokenPipeError, OSError):  # the worker died while idle: replace it, retry
                    queue.appendleft((index, (name, start, end)))
                    idle.append(self._replace(worker))
                    continue
                running[worker.conn] = (worker, index, time.monotonic() + self.pool.timeout_s)
            if not running:
                continue
            next_deadline = min(deadline for _, _, deadline in running.values())
            for conn in wait(list(running), timeout=max(0.0, next_deadline - time.monotonic())):
                worker, index, _ = running.pop(conn)
                try:
                    _, *outcome = conn.recv()
                except (EOFError, OSError):
                    yield from self._failed(tasks, index, queue)
                    idle.append(self._replace(worker))
                    continue
                yield tasks[index], tuple(outcome)
                idle.append(worker)
            now = time.monotonic()
            for conn, (worker, index, deadline) in list(running.items()):
                if now >= deadline:
                    del running[conn]
                    yield from self._failed(tasks, index, queue)
                    idle.append(self._replace(worker))

    @staticmethod
    def _failed(tasks: list[tuple[str, int, int]], index: int, queue: deque):
        """A task that timed out or lost its worker: a single item is lost (yield it with None);
        a chunk goes back to the front of the queue item by item, each its own task."""
        name, start, end = tasks[index]
        if end - start == 1:
            yield tasks[index], None
            return
        for item in reversed(range(start, end)):
            tasks.append((name, item, item + 1))
            queue.appendleft((len(tasks) - 1, tasks[-1]))

    def _replace(self, worker: _Worker) -> _Worker:
        """Kill a stuck or dead worker and start a fresh one in its slot."""
        worker.stop(kill=True)
        fresh = _Worker(mp.get_context(self.pool.context), self.functions)
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def _output(
        self,
        values: dict[str, list],
        errors: dict[str, int],
        timeouts: dict[str, int],
        nonfinite: dict[str, int],
    ) -> RewardOutput:
        n = len(next(iter(values.values())))
        total = [0.0] * n
        valid = [True] * n
        stats: dict[str, float] = {}
        for name, column in values.items():
            weight = self.weights[name]
            present = [v for v in column if v is not None]
            for i, value in enumerate(column):
                if value is None:
                    valid[i] = valid[i] and weight == 0
                else:
                    total[i] += weight * value
            stats[f"reward/{name}/mean"] = sum(present) / len(present) if present else math.nan
            stats[f"reward/{name}/none_frac"] = (n - len(present)) / n if n else 0.0
            stats[f"reward/{name}/errors"] = float(errors[name])
            stats[f"reward/{name}/timeouts"] = float(timeouts[name])
            stats[f"reward/{name}/nonfinite"] = float(nonfinite[name])
        stats["reward/total/mean"] = sum(total) / n if n else math.nan
        return RewardOutput(rewards=values, total=total, valid=valid, stats=stats)
