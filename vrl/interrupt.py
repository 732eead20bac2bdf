"""Stopping a run on a signal without losing anything: SIGTERM, SIGINT, SIGUSR1, SIGUSR2.

Who sends what:
- SLURM, on `scancel`, `scontrol requeue`, preemption (PreemptMode=REQUEUE) and at the time
  limit: SIGTERM to every process of the job, SIGKILL `KillWait` (or `GraceTime`) seconds later.
- submitit, `signal_delay_s` before the time limit (`--signal=USR2@<s>`) or on preemption:
  SIGUSR2; its own handler re-pickles the call, `scontrol requeue`s the job and exits 255.
- A user: Ctrl-C (SIGINT), `kill` (SIGTERM). Lightning's SLURM auto-requeue listens on SIGUSR1.

What vrl does (`SignalGuard`, installed by `vrl.run.run` for the whole run):
- Outside training (data, eval, between stages) a signal raises `Interrupted` at once: those
  stages restart cheaply (data is rewritten whole, eval resumes from its per-item cache).
- Inside training (`StopOnSignal`, a Lightning callback of the SFT and RL stages) the signal
  only sets a flag. At the end of the current optimizer step (SFT) or RL step every rank learns
  whether any rank got one (one tiny all-gather), all save `last.ckpt` together, and
  `Interrupted` leaves `trainer.fit`. A second Ctrl-C stops at once.
- The stage closes its loggers (W&B marked preempted), the run loop records the invocation as
  interrupted, and `Interrupted.exit` ends the process: under submitit it hands the signal to
  submitit's own handler (requeue on USR2), else it prints one line and exits 128 + signal.
  Either way the job writes no result, so a Hydra/submitit launcher keeps waiting for the
  requeued job instead of reporting a failure.

`Interrupted` derives from BaseException: Hydra's job runner and submitit catch `Exception` to
record a failed job, and Lightning turns `KeyboardInterrupt` into `sys.exit(1)`.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from vrl.distributed import failed_rank, gather_objects

log = logging.getLogger("vrl")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)


class Interrupted(BaseException):  # noqa: N818 - it is an event, not an error
    """A signal stopped the run; where, and the checkpoint written for it (if any)."""

    def __init__(self, signum: int, stage: str | None = None, step: int | None = None) -> None:
        self.signum = int(signum)
        self.stage = stage
        self.step = step
        self.checkpoint: Path | None = None
        self.run_dir: Path | None = None
        super().__init__(self.describe())

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def describe(self) -> str:
        where = f" during stage {self.stage}" if self.stage else ""
        where += f" after step {self.step}" if self.step is not None else ""
        saved = f": checkpoint {self.checkpoint}" if self.checkpoint else ""
        resume = f"; resume: python -m vrl hydra.run.dir={self.run_dir}" if self.run_dir else ""
        return f"stopped by {self.signal_name}{where}{saved}{resume}"

    def exit(self) -> None:
        """End the process: submitit's handler for this signal if it installed one (it requeues
        the job on USR2 and exits 255; it returns on ranks > 0), else one line and 128 + signal."""
        previous = GUARD.previous.get(self.signum)
        if _is_submitits(previous):
            log.warning("vrl: %s; handing over to submitit", self.describe())
            GUARD.restore()
            previous(self.signum, None)
        print(f"vrl: {self.describe()}", file=sys.stderr, flush=True)
        failed = failed_rank()  # stopped by our own rank watcher, not by a user or SLURM
        sys.exit(failed[1] if failed else self.exit_code)


def _is_submitits(handler: Any) -> bool:
    owner = getattr(handler, "__self__", handler)
    return callable(handler) and type(owner).__module__.startswith("submitit")


class SignalGuard:
    """The process's handler for `STOP_SIGNALS` (see the module docstring); one per process (`GUARD`)."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.received: int | None = None
        self._deferring = 0
        self._installed = False

    def install(self) -> None:
        """Take over the stop signals (remembering whoever had them, e.g. submitit); idempotent.
        Only the main thread may install signal handlers; elsewhere this does nothing."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            current = signal.getsignal(signum)
            if current is not self._handle:
                if not self._installed:
                    self.previous[signum] = current
                signal.signal(signum, self._handle)
        self._installed = True
        self.received = None

    def restore(self) -> None:
        """Give the signals back to their previous handlers."""
        for signum, handler in self.previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        self._installed = False

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """Inside this block a signal only sets `received`; the training loop stops at a step end."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    def _handle(self, signum: int, frame: Any) -> None:
        if self._deferring == 0:
            self.received = signum
            raise Interrupted(signum)
        if self.received is None:
            self.received = signum
            log.warning("vrl: got %s: stopping after the current step", signal.Signals(signum).name)
        elif signum == signal.SIGINT and self.received == signal.SIGINT:
            raise Interrupted(signum)  # Ctrl-C twice: now


GUARD = SignalGuard()


class StopOnSignal(Callback):
    """Stops `trainer.fit` at the end of a step when a stop signal arrived on any rank, after
    every rank saved the checkpoint together.

    Args:
        save: `save(trainer) -> Path` writes the stage's resume checkpoint (a collective).
        step: `step(trainer, module) -> int`, the step count to report (RL steps for RL).
        stage: the stage's name, for the message.
        every_batch: check after every batch (RL: a batch is a whole step, whether or not the
            optimizer stepped), else only after batches the optimizer stepped on (SFT: not in
            the middle of gradient accumulation, whose partial gradient a checkpoint would lose).
        validation_follows: `validation_follows(trainer) -> bool`, whether a validation runs
            right after this batch; if so the stop waits for its end (a resumed run starts after
            the checkpointed step, so that validation would never run again).
    """

    def __init__(
        self,
        save: Callable[[Any], Path],
        step: Callable[[Any, Any], int],
        stage: str,
        every_batch: bool = False,
        validation_follows: Callable[[Any], bool] | None = None,
    ) -> None:
        self.save, self.step, self.stage, self.every_batch = save, step, stage, every_batch
        self.validation_follows = validation_follows
        self._stop_after_validation: int | None = None
        self._deferral: Any = None
        self._last_global_step = -1

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        GUARD.install()  # Lightning replaced SIGTERM's handler at fit start: take it back
        self._deferral = GUARD.deferring()
        self._deferral.__enter__()
        self._last_global_step = trainer.global_step

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        if not self.every_batch and trainer.global_step == self._last_global_step:
            return  # mid gradient accumulation: a checkpoint here would lose the partial gradient
        self._last_global_step = trainer.global_step
        received = [s for s in gather_objects(GUARD.received) if s is not None]
        if not received:
            return
        signum = GUARD.received or received[0]  # a peer's signal stops this rank too
        if self.validation_follows is not None and self.validation_follows(trainer):
            self._stop_after_validation = signum
            return
        _log_this_step(trainer)
        self._stop(trainer, pl_module, signum)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if self._stop_after_validation is not None:  # the step's rows are logged by now
            signum, self._stop_after_validation = self._stop_after_validation, None
            self._stop(trainer, pl_module, signum)

    def _stop(self, trainer: Any, pl_module: Any, signum: int) -> None:
        path = self.save(trainer)
        stop = Interrupted(signum, self.stage, self.step(trainer, pl_module))
        stop.checkpoint = path
        log.warning("vrl: %s", stop.describe())
        self._leave()
        raise stop

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._leave()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._leave()

    def _leave(self) -> None:
        if self._deferral is not None:
            self._deferral.__exit__(None, None, None)
            self._deferral = None


def _log_this_step(trainer: Any) -> None:
    """Send the metrics this step logged (`self.log`) to the loggers now: Lightning does it only
    after the `on_train_batch_end` hooks, which the stop leaves; without it the last step's row
    of metrics.csv would lack them and differ from an uninterrupted run's."""
    connector = getattr(trainer, "_logger_connector", None)
    if connector is None:
        return
    connector.on_batch_end()
    connector.update_train_step_metrics()
