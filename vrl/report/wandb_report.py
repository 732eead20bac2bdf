"""The sweep's comparison as a W&B Report (`wandb-workspaces`), beside `<sweep dir>/report/`.

`wandb_runs(sweep)` reads where the jobs' W&B runs are from their `<stage>/wandb_run.json`
(`vrl.loggers` writes it: project, entity, group, mode). `wandb_report(...)` builds the Report
from disk alone; `publish(report)` saves it to W&B, the one network call, and returns its URL.

W&B holds one run per job and stage (`job_type` = the stage), so the Report has one panel grid
per stage, its runset the sweep's group and that job type: the overlaid curves of
`sweep_plots.overlaid_curves`, a parallel-coordinates plot over the swept keys and the stage's
headline final metrics, and a run comparer. The runsets get the runs' entity and project when
published: naming them makes serialising look the project's id up online, so the built Report
leaves them empty and stays a value that tests can serialise offline.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import wandb_workspaces.reports.v2 as wr
from wandb_workspaces import expr

from vrl.errors import VrlError
from vrl.report.sweep import RL_STEP, Sweep
from vrl.report.sweep_plots import overlaid_curves
from vrl.report.table import stage_of

RECORD = "wandb_run.json"  # <job>/<stage>/wandb_run.json, written by vrl.loggers
CLOSE_TIMEOUT_S = 20.0  # how long `close_wandb` waits for W&B's service to end


@dataclass(frozen=True)
class WandbRuns:
    """Where the sweep's W&B runs are, as the jobs' records tell it."""

    entity: str  # "" where no record names it: the API key's default entity
    project: str
    group: str
    modes: frozenset[str]  # how the stages logged: online, offline


def wandb_runs(sweep: Sweep) -> WandbRuns | None:
    """The sweep's W&B runs; None where no job logged one (logger.wandb_mode=disabled)."""
    records = [_record(path) for job in sweep.jobs for path in sorted(job.path.glob(f"*/{RECORD}"))]
    records = [r for r in records if r.get("project") and r.get("group")]
    if not records:
        return None
    places = sorted({f"{r['project']}, group {r['group']}" for r in records})
    if len(places) > 1:
        raise VrlError(
            f"the jobs' W&B runs are in {len(places)} places ({'; '.join(places)}): one report shows one"
        )
    entity = next((str(r["entity"]) for r in records if r.get("entity")), "")
    modes = frozenset(str(r.get("mode", "")) for r in records)
    return WandbRuns(entity, str(records[0]["project"]), str(records[0]["group"]), modes)


def wandb_report(
    sweep: Sweep, runs: WandbRuns, swept: list[str], labels: dict[str, str], headline: list[str]
) -> wr.Report:
    """The Report: the sweep's command and jobs, then one panel grid per stage (module docstring).
    `swept`: the override keys the jobs differ in (`table.swept_values`; W&B holds each in the
    runs' config, nested as in the config file); `labels`: job name -> its swept values;
    `headline`: the final metrics the jobs table shows (`table.headline_metrics`)."""
    command = " ".join(["python -m vrl -m", *sweep.command])
    jobs = "\n".join(f"- job {job.name} ({labels[job.name]}): {job.status}" for job in sweep.jobs)
    blocks: list = [
        wr.P(["Sweep ", wr.InlineCode(command), f" in {sweep.path}; W&B group {runs.group}."]),
        wr.MarkdownBlock(jobs),
    ]
    curves = overlaid_curves(sweep)
    for stage in sweep.stages:
        finals = [logged_name(key) for key in headline if stage_of(key) == stage]
        panels: list = [
            wr.LinePlot(
                title=f"{stage}: {title}",
                x=_x_axis(sweep, stage),
                y=[metric],
                layout=wr.Layout(w=8, h=6),
            )
            for where, metric, title in curves
            if where == stage
        ]
        if not panels and not finals:
            continue
        columns = [wr.Config(key) for key in swept] + [wr.SummaryMetric(m) for m in finals]
        panels += [
            wr.ParallelCoordinatesPlot(
                columns=[wr.ParallelCoordinatesPlotColumn(metric=c) for c in columns],
                title=f"{stage}: swept values and final metrics",
                layout=wr.Layout(w=24, h=8),
            ),
            wr.RunComparer(diff_only="split", layout=wr.Layout(w=24, h=10)),
        ]
        runset = wr.Runset(name=f"{stage} runs", filters=group_filter(runs.group, stage))
        blocks += [wr.H2(f"Stage {stage}"), wr.PanelGrid(runsets=[runset], panels=panels)]
    description = f"{command} ({len(sweep.jobs)} jobs)"
    title = f"vrl sweep {sweep.name or sweep.path.name}"[:128]  # its URL: the title, spaces as dashes
    return wr.Report(
        project=runs.project, entity=runs.entity, title=title, description=description, blocks=blocks
    )


def group_filter(group: str, stage: str) -> list[expr.FilterExpr]:
    """The runs of one stage of the sweep: its W&B group, the stage as job type."""
    return [expr.Metric("Group") == group, expr.Metric("JobType") == stage]


def logged_name(key: str) -> str:
    """A report metric's name in its W&B run: `rl:train/loss` -> `train/loss` (see sweep.metric_key)."""
    return key.split(":", 1)[1] if ":" in key else key


def publish(report: wr.Report) -> str:
    """Save `report` to W&B and return its URL. The network call: W&B's errors pass through
    (each request waits up to WANDB_HTTP_TIMEOUT seconds, 19 by default)."""
    if not report.entity:
        import wandb

        report.entity = wandb.Api().default_entity or ""
    for grid in (block for block in report.blocks if isinstance(block, wr.PanelGrid)):
        for runset in grid.runsets:
            runset.entity, runset.project = report.entity, report.project
    report.save()
    return str(report.url)


def close_wandb(timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """End this process's W&B service, waiting at most `timeout_s` seconds; whether it ended.

    `wandb.teardown()` (also W&B's own atexit hook) waits without bound for wandb-core to exit,
    and wandb-core may still be retrying a request that the client already gave up on: in CI,
    `python -m vrl.report --wandb` against a closed port printed its one line and then did not
    exit for minutes. Here the teardown runs in a daemon thread (it unregisters W&B's atexit
    hook first), so the caller goes on; wandb-core ends by itself when its parent process does.
    """
    if "wandb" not in sys.modules:  # nothing of W&B's was started in this process
        return True
    import wandb

    ended = threading.Event()

    def teardown() -> None:
        try:
            wandb.teardown()
        except BaseException:  # noqa: BLE001 - a failed teardown is still the end of the wait
            pass
        finally:
            ended.set()

    threading.Thread(target=teardown, name="vrl-wandb-teardown", daemon=True).start()
    return ended.wait(timeout_s)


def _x_axis(sweep: Sweep, stage: str) -> str:
    """The RL stage's curves run against its RL step, as in the PNGs; others against W&B's step."""
    return RL_STEP if any(job.curve_x.get(stage) == RL_STEP for job in sweep.jobs) else "Step"


def _record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
