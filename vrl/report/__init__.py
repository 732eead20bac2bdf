"""Human-facing results: one run's summary and plots, and a sweep's comparison report.

- `summary`: a run's `summary.md` and terminal table (written by `vrl.run`); `run_plots` its curves.
- `sweep`: a sweep directory's jobs (overrides, status, final metrics, curves), read from disk.
- `table`: the comparison tables (swept values against final metrics, mean and spread over seeds).
- `sweep_plots`, `samples`: the report's overlaid curves and its responses side by side.
- `document`, `html`: the report as blocks (heading, text, table, image), rendered to markdown
  and plain text, and to one self-contained HTML page.
- `build`: `build_report(sweep_dir)` writes `<sweep dir>/report/`; `python -m vrl.report <sweep dir>`
  runs it, and the Hydra callback `SweepReport` (`callback`) runs it at the end of every `python -m vrl -m`.
- `wandb_report`: the same comparison as a W&B Report, published when the jobs logged online.
"""

from vrl.report.callback import SweepReport
from vrl.report.run_plots import plot_benchmark, plot_training_curves
from vrl.report.summary import StageRecord, write_summary

__all__ = ["StageRecord", "SweepReport", "plot_benchmark", "plot_training_curves", "write_summary"]
