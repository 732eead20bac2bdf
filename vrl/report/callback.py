"""`SweepReport`: the Hydra callback (`hydra.callbacks.sweep_report` in conf/config.yaml) that
builds `<sweep dir>/report/` when a multirun ends, and prints the jobs table and its path, and
the W&B Report's URL where the jobs logged to W&B online (`vrl.report.build`).

Hydra calls `on_multirun_end` in the process that launched the sweep, whatever the launcher
(basic, submitit local or SLURM), after every job returned. When a job fails Hydra raises
instead and never calls it; the report is then built as that process exits, so the failed job
shows in it. A report that cannot be built is one warning line: the sweep's own outcome stands.
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepReport(Callback):
    """Build the sweep's comparison report at the end of `python -m vrl -m ...`."""

    def __init__(self) -> None:
        self._pending: Path | None = None  # the sweep dir, from start until its report is built

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._pending = Path(str(config.hydra.sweep.dir))
        atexit.register(self._at_exit)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._pending = None
        report(Path(str(config.hydra.sweep.dir)))

    def _at_exit(self) -> None:
        """The sweep stopped on a failed job (Hydra raised past `on_multirun_end`)."""
        if self._pending is not None and self._pending.is_dir():
            sweep_dir, self._pending = self._pending, None
            report(sweep_dir, "the sweep stopped before its end; ")


def report(sweep_dir: Path, note: str = "") -> None:
    """Build the report of `sweep_dir` and print its table and path; one warning line if that fails."""
    try:
        from vrl.report.build import build_report

        built = build_report(sweep_dir)
    except Exception as error:  # noqa: BLE001 - a report must never fail the sweep it describes
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"vrl: warning: no sweep report for {sweep_dir}: {message}", file=sys.stderr)
        return
    print(f"\n{note}sweep {sweep_dir}:\n{built.terminal}")
    print(f"sweep report: {built.html} ({built.markdown.name} beside it)")
    print(built.wandb, file=sys.stderr if built.wandb_failed else sys.stdout)
    from vrl.report.wandb_report import close_wandb

    close_wandb()  # bounded: W&B's own exit hook would wait for its service without limit
