"""A sweep directory (`python -m vrl -m`'s `hydra.sweep.dir`) read back from disk: its jobs.

Hydra writes `<sweep dir>/multirun.yaml` and one directory per job (`<sweep dir>/<job number>`,
`hydra.sweep.subdir`). In each, vrl writes `.hydra/overrides.yaml` (the job's overrides),
`invocations.jsonl` (each start and how it ended: `vrl.invocation`), and per stage
`<stage>/DONE.json` (final metrics) and `<stage>/csv/**/metrics.csv` (logged curves).

A job's status is how its last start ended: finished, interrupted (a signal, or killed with no
end recorded), failed; `missing` when it left no directory or no record at all. The jobs a basic
sweep meant to run are recomputed from `multirun.yaml`, so a job that never started is listed too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrl.errors import VrlError
from vrl.report.series import Series, last_values, metrics_csv, read_series

RL_STEP = "train/rl_step"  # the RL stage logs its rows against this column, not Lightning's step
REPORT_DIR = "report"


@dataclass
class Job:
    """One job of the sweep, as its directory tells it."""

    name: str  # the job's directory name (its number)
    path: Path
    overrides: list[str]  # the job's own overrides, `key=value`
    status: str  # finished | interrupted | failed | missing
    note: str = ""  # the recorded end status in full, or why the job is missing
    metrics: dict[str, float] = field(default_factory=dict)  # `metric_key(stage, name)` -> final value
    curves: dict[str, Series] = field(default_factory=dict)  # stage -> metric -> [(step, value)]
    curve_x: dict[str, str] = field(default_factory=dict)  # stage -> the step column of its curves


@dataclass
class Sweep:
    path: Path
    jobs: list[Job]
    stages: list[str]  # stage names seen in any job, in run order
    objective: str | None = None  # the metric the sweep optimises (`objective` in its config)
    name: str = ""  # the run name (`name`) the sweep's jobs share
    command: list[str] = field(default_factory=list)  # the sweep's command-line overrides


def metric_key(stage: str, metric: str) -> str:
    """A final metric's name across stages: `eval/x/accuracy` (named after its stage already),
    `rl:train/loss` (the RL stage's loss, not SFT's `sft:train/loss`)."""
    return metric if metric.startswith(f"{stage}/") else f"{stage}:{metric}"


def load_sweep(sweep_dir: Path) -> Sweep:
    """Every job of `sweep_dir`; VrlError if it is not a sweep directory or holds no job."""
    sweep_dir = Path(sweep_dir).expanduser().absolute()
    if not sweep_dir.is_dir():
        raise VrlError(f"{sweep_dir} is not a directory: give the sweep directory of `python -m vrl -m`")
    planned = planned_jobs(sweep_dir)
    names = {p.name for p in sweep_dir.iterdir() if p.name != REPORT_DIR and _is_job_dir(p)}
    names |= {str(i) for i in range(len(planned or []))}
    if not names:
        raise VrlError(
            f"{sweep_dir} holds no sweep jobs (no multirun.yaml, no <job>/.hydra/overrides.yaml): give the "
            "directory `python -m vrl -m` wrote (hydra.sweep.dir, printed at the end of the sweep)"
        )
    config = _load_yaml(sweep_dir / "multirun.yaml") or {}
    jobs = [
        _read_job(sweep_dir / name, (planned or [])[int(name)] if name.isdigit() and planned else [])
        for name in sorted(names, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))
    ]
    order = [str(s) for s in config.get("stages") or []]
    seen = {m.split(":")[0] if ":" in m else m.split("/")[0] for job in jobs for m in job.metrics}
    seen |= {stage for job in jobs for stage in job.curves}
    stages = [s for s in order if s in seen] + sorted(seen - set(order))
    objective = config.get("objective")
    command = [str(o) for o in ((config.get("hydra") or {}).get("overrides") or {}).get("task") or []]
    name = str(config.get("name") or "")
    return Sweep(sweep_dir, jobs, stages, str(objective) if objective else None, name, command)


def planned_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """Each job's overrides as Hydra's basic sweeper expands them from `multirun.yaml`
    (`hydra.sweeper.params` and the command line), in job-number order; None where that is not
    known (no multirun.yaml, another sweeper, job directories not named by number)."""
    config = _load_yaml(sweep_dir / "multirun.yaml")
    hydra = (config or {}).get("hydra") or {}
    sweeper = hydra.get("sweeper") or {}
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    if (hydra.get("sweep") or {}).get("subdir") != "${hydra:job.num}":
        return None
    arguments = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    arguments += [str(o) for o in (hydra.get("overrides") or {}).get("task") or []]
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        overrides = OverridesParser.create().parse_overrides(arguments)
        batches = BasicSweeper.split_arguments(overrides, None)
    except Exception:  # noqa: BLE001 - then the job directories alone tell the jobs
        return None
    return [list(job) for batch in batches for job in batch]


def _is_job_dir(path: Path) -> bool:
    return path.is_dir() and (
        (path / ".hydra" / "overrides.yaml").is_file()
        or (path / "invocations.jsonl").is_file()
        or any(path.glob("*/DONE.json"))
    )


def _read_job(path: Path, planned: list[str]) -> Job:
    saved = _load_yaml(path / ".hydra" / "overrides.yaml")
    overrides = [str(o) for o in saved] if isinstance(saved, list) else planned
    status, note = job_status(path)
    job = Job(path.name, path, overrides, status, note)
    if not path.is_dir():
        return job
    for stage_dir in sorted(p for p in path.iterdir() if p.is_dir()):
        done = _load_json(stage_dir / "DONE.json")
        csv_path = metrics_csv(stage_dir)
        if csv_path is not None:  # the last logged values; a finished stage's DONE.json wins below
            with open(csv_path) as handle:
                header = handle.readline().strip().split(",")
            x = RL_STEP if RL_STEP in header else "step"
            job.curves[stage_dir.name] = read_series(csv_path, x)
            job.curve_x[stage_dir.name] = x
            if done is None:
                last = last_values(csv_path)
                job.metrics.update(
                    {metric_key(stage_dir.name, k): v for k, v in last.items() if k != "epoch"}
                )
        if done is not None:
            finals = done.get("metrics") or {}
            job.metrics.update(
                {metric_key(stage_dir.name, k): float(v) for k, v in finals.items() if _is_number(v)}
            )
    return job


def job_status(path: Path) -> tuple[str, str]:
    """(status, note) from the job's last recorded start (see the module docstring)."""
    if not path.is_dir():
        return "missing", "no job directory"
    starts: dict[int, dict[str, Any]] = {}
    record = path / "invocations.jsonl"
    for line in record.read_text().splitlines() if record.is_file() else []:
        try:
            entry = json.loads(line)
            starts.setdefault(int(entry["n"]), {}).update(entry)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill
    if not starts:
        logs = sorted(p.name for p in path.glob("*.log"))
        where = f"; see {path / logs[0]}" if logs else ""
        return "missing", f"no run record (the job stopped before vrl ran it{where})"
    last = starts[max(starts)]
    status = str(last.get("status", ""))
    if not status:
        return "interrupted", "killed (no end recorded)"
    if status == "finished":
        return "finished", ""
    return ("interrupted" if status.startswith("interrupted") else "failed"), status


def _load_yaml(path: Path) -> Any:
    if not path.is_file():
        return None
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception:  # noqa: BLE001 - a damaged file reads as absent
        return None


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
