"""`build_report(sweep_dir)`: `<sweep dir>/report/` compares the sweep's jobs.

It writes `report.md` (the jobs table: swept values against final metrics and status; mean and
spread over seeds; the overlaid curves; eval responses and RL rollouts side by side; every final
metric), the PNGs it shows, `report.html` (the same blocks, PNGs inlined) and `jobs.csv` (every final metric at
full precision, one row per job). A rebuild replaces them, so it can run while jobs still go.

When the jobs logged to W&B online (their `<stage>/wandb_run.json`), it also publishes the
comparison as a W&B Report (`wandb_report`) and gives its URL; offline or disabled W&B skips
that, and a failed upload (no network, no login) is one line: the local report stands either way.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vrl.errors import VrlError
from vrl.report import html, samples, sweep_plots, wandb_report
from vrl.report.document import Block, Heading, Image, Table, Text, text_table, to_markdown
from vrl.report.sweep import REPORT_DIR, Job, Sweep, load_sweep
from vrl.report.table import (
    SEED,
    SeedGroup,
    fmt,
    fmt_spread,
    headline_metrics,
    label,
    seed_groups,
    short_metrics,
    swept_values,
)

TERMINAL_METRICS = 5  # headline metrics in the terminal's table


@dataclass
class Report:
    directory: Path
    markdown: Path
    html: Path
    terminal: str  # the short jobs table, for the terminal
    wandb: str = ""  # one line: the W&B Report's URL, or why there is none
    wandb_failed: bool = False  # an upload was tried (or asked for) and did not happen


def build_report(sweep_dir: Path, force_wandb: bool = False) -> Report:
    """Read the sweep's jobs and write the report (VrlError if `sweep_dir` is not a sweep); publish
    the W&B Report when the jobs logged online, or whatever their mode with `force_wandb`."""
    sweep = load_sweep(Path(sweep_dir))
    out = sweep.path / REPORT_DIR
    out.mkdir(exist_ok=True)
    for stale in out.glob("*.png"):
        stale.unlink()
    swept, values = swept_values([job.overrides for job in sweep.jobs])
    labels = {job.name: label(v, f"job {job.name}") for job, v in zip(sweep.jobs, values)}
    every_metric = sorted({key for job in sweep.jobs for key in job.metrics})
    headline = headline_metrics(every_metric, sweep.stages, sweep.objective)

    blocks: list[Block] = [Heading(f"Sweep report: {sweep.name or sweep.path.name}", 1), *_intro(sweep)]
    blocks += [Heading("Jobs"), jobs_table(sweep.jobs, swept, values, headline), *_unfinished(sweep, labels)]
    finished = [job.metrics if job.status == "finished" else {} for job in sweep.jobs]
    groups = seed_groups(values, finished, headline)
    if groups:
        blocks += [
            Heading("Over seeds"),
            Text("Finished jobs only: mean ± sample std [min, max] over the seeds of each setting."),
            seed_table(groups, swept, headline),
        ]
    plots = sweep_plots.plot_curves(sweep, labels, out)
    finals = sweep_plots.plot_finals([m for m in headline if m.startswith("eval/")], sweep, labels, out)
    if plots or finals:
        blocks.append(Heading("Curves"))
        blocks += [Image(p.relative_to(out), p.stem) for p in [*plots, *([finals] if finals else [])]]
    responses = samples.sample_tables(sweep, labels)
    if responses:
        blocks += [Heading("Responses side by side"), *responses]
    rollouts = samples.rollout_blocks(sweep, labels, out)
    if rollouts:
        blocks += [Heading("RL rollouts side by side"), *rollouts]
    blocks += [Heading("Every final metric"), _all_metrics(sweep.jobs, labels, every_metric)]

    markdown = out / "report.md"
    markdown.write_text(to_markdown(blocks))
    page = out / "report.html"
    page.write_text(html.to_html(blocks, f"vrl sweep report: {sweep.name or sweep.path}", out))
    write_jobs_csv(out / "jobs.csv", sweep, swept, values, every_metric)
    short = jobs_table(
        sweep.jobs, swept, values, short_metrics(headline, sweep.stages, sweep.objective, TERMINAL_METRICS)
    )
    line, failed = publish_wandb(sweep, swept, labels, headline, force_wandb)
    return Report(out, markdown, page, text_table(short), line, failed)


def publish_wandb(
    sweep: Sweep, swept: list[str], labels: dict[str, str], headline: list[str], force: bool
) -> tuple[str, bool]:
    """(one line, whether it failed): the W&B Report's URL, or why it was not published."""
    retry = f"`python -m vrl.report {sweep.path} --wandb`"
    try:
        runs = wandb_report.wandb_runs(sweep)
    except VrlError as error:
        return f"W&B report: not published: {error}", True
    if runs is None:
        return "W&B report: none (the jobs logged no W&B run: logger.wandb_mode=disabled)", force
    if "online" not in runs.modes and not force:
        return (
            f"W&B report: not published (the jobs' W&B runs are {'/'.join(sorted(runs.modes))}): upload them "
            f"with `wandb sync {sweep.path}/*/wandb/offline-run-*`, then run {retry}"
        ), False
    try:
        url = wandb_report.publish(wandb_report.wandb_report(sweep, runs, swept, labels, headline))
    except Exception as error:  # noqa: BLE001 - W&B's errors share no base class; the local report stands
        cause = " ".join(str(error).split())[:300] or "no message"
        return f"W&B report: not published ({type(error).__name__}: {cause}); retry with {retry}", True
    return f"W&B report: {url}", False


def jobs_table(jobs: list[Job], swept: list[str], values: list[dict[str, str]], metrics: list[str]) -> Table:
    """One row per job: its number, swept values, status, then `metrics` (empty where absent)."""
    rows = [
        [job.name, *(v[k] for k in swept), job.status, *(fmt(job.metrics.get(m)) for m in metrics)]
        for job, v in zip(jobs, values)
    ]
    first = len(swept) + 2
    return Table(["job", *swept, "status", *metrics], rows, numeric={0, *range(first, first + len(metrics))})


def seed_table(groups: list[SeedGroup], swept: list[str], metrics: list[str]) -> Table:
    """One row per setting: its swept values but the seed, its seeds, then each metric's spread."""
    keys = [k for k in swept if k != SEED]
    rows = [
        [*(g.values[k] for k in keys), ", ".join(g.seeds), *(fmt_spread(g.metrics[m]) for m in metrics)]
        for g in groups
    ]
    first = len(keys) + 1
    return Table([*keys, "seeds", *metrics], rows, numeric=set(range(first, first + len(metrics))))


def write_jobs_csv(
    path: Path, sweep: Sweep, swept: list[str], values: list[dict[str, str]], metrics: list[str]
) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["job", *swept, "status", "note", *metrics])
        for job, v in zip(sweep.jobs, values):
            finals = [repr(job.metrics[m]) if m in job.metrics else "" for m in metrics]
            writer.writerow([job.name, *(v[k] for k in swept), job.status, job.note, *finals])


def _intro(sweep: Sweep) -> list[Block]:
    counts: dict[str, int] = {}
    for job in sweep.jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    text = [Text(f"Sweep directory: `{sweep.path}`; {len(sweep.jobs)} jobs: {tally}.")]
    if sweep.command:
        text.append(Text(f"Command: `python -m vrl -m {' '.join(sweep.command)}`"))
    if sweep.objective:
        text.append(Text(f"Objective: `{sweep.objective}`."))
    return text


def _unfinished(sweep: Sweep, labels: dict[str, str]) -> list[Block]:
    lines = [
        f"job {job.name} ({labels[job.name]}): {job.status}" + (f": {job.note}" if job.note else "")
        for job in sweep.jobs
        if job.status != "finished"
    ]
    return [Text("Not finished: " + "; ".join(lines) + ".")] if lines else []


def _all_metrics(jobs: list[Job], labels: dict[str, str], metrics: list[str]) -> Table:
    rows = [[m, *(fmt(job.metrics.get(m)) for job in jobs)] for m in metrics]
    return Table(["metric", *(labels[job.name] for job in jobs)], rows, numeric=set(range(1, len(jobs) + 1)))
