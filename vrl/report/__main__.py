"""`python -m vrl.report <sweep dir> [--wandb]`: write `<sweep dir>/report/` (report.md,
report.html, PNGs, jobs.csv) comparing the sweep's jobs, and print the jobs table. A path that is
not a sweep directory is one line on stderr and exit status 2.

The W&B Report (`vrl.report.wandb_report`) is published when the jobs logged to W&B online, and
its URL printed; `--wandb` tries whatever their mode (after `wandb sync` of offline runs). A
failed upload is one line on stderr; the local report is written all the same, and the exit
status is 0, or 2 where `--wandb` asked for the upload."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vrl.errors import VrlError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vrl.report",
        description="Compare the jobs of a sweep (`python -m vrl -m ...`): writes <sweep dir>/report/.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep directory (hydra.sweep.dir)")
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="publish the W&B Report whatever mode the jobs logged in (default: when they logged online)",
    )
    args = parser.parse_args(argv)
    from vrl.report.build import build_report

    try:
        report = build_report(args.sweep_dir, force_wandb=args.wandb)
    except VrlError as error:
        print(f"vrl.report: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(report.terminal)
    print(f"sweep report: {report.markdown} and {report.html}")
    print(report.wandb, file=sys.stderr if report.wandb_failed else sys.stdout)
    return 2 if report.wandb_failed and args.wandb else 0


def run() -> None:
    """The command: `main()`, then W&B's service ended within a bound. Where it does not end,
    the process exits without the interpreter's own shutdown, which would wait for it."""
    from vrl.report.wandb_report import close_wandb

    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:  # piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's docs advise
        status = 0
    if not close_wandb():
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    run()
