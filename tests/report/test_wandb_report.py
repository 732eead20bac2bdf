"""The sweep's W&B Report, built from a sweep directory that vrl's own writers filled: each job's
`invocations.jsonl` (`vrl.invocation`), per stage the CSV log and a real offline W&B run with its
`wandb_run.json` (`vrl.loggers.RunLoggers`), and `DONE.json` (`vrl.stages.base.write_done`).

W&B's server is the one thing that cannot run here: the upload test fakes only the lowest call
that leaves Python (`ServiceApi.send_api_request`, what wandb-core would send over the network),
and the no-network test runs `python -m vrl.report --wandb` for real against a closed port.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import wandb_workspaces.reports.v2 as wr
from vrl_testing import REPO

from vrl import invocation
from vrl.report.__main__ import main
from vrl.report.build import build_report
from vrl.report.sweep import load_sweep
from vrl.report.sweep_plots import CURVES
from vrl.report.table import headline_metrics, label, swept_values
from vrl.report.wandb_report import logged_name, wandb_report, wandb_runs

GROUP = "study-sweep-sweep"
PROJECT = "vrl-report-test"
JOBS = {
    "0": ["debug=smoke", "stage.rl.lr=1e-5", "seed=0"],
    "1": ["debug=smoke", "stage.rl.lr=2e-5", "seed=1"],
}
# What each stage logs per step: SFT against Lightning's step, RL against its RL step.
LOGGED = {
    "sft": lambda k: {"train/loss": 2.0 / k, "val/loss": 2.5 / k},
    "rl": lambda k: {
        "train/rl_step": float(k),
        "rollout/reward_mean": 0.1 * k,
        "reward/accuracy/mean": 0.1 * k,
        "replay/effective_ratio": 0.5,
        "train/loss": 0.3 / k,
        "train/entropy": 1.0,
    },
}
FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"  # 40 characters, as W&B's keys


def write_sweep(sweep_dir: Path) -> Path:
    """Two finished jobs of stages sft, rl, eval, every file written by vrl's own writers."""
    from omegaconf import OmegaConf

    from vrl.loggers import RunLoggers, finish
    from vrl.stages.base import write_done

    sweep_dir.mkdir(parents=True)
    task = ["debug=smoke", "stage.rl.lr=1e-5,2e-5", "seed=0,1"]
    OmegaConf.save({"name": "study", "stages": ["sft", "rl", "eval"], "hydra": {"overrides": {"task": task}}},
                   sweep_dir / "multirun.yaml")  # fmt: skip
    for name, overrides in JOBS.items():
        job = sweep_dir / name
        (job / ".hydra").mkdir(parents=True)
        OmegaConf.save(overrides, job / ".hydra" / "overrides.yaml")
        number = invocation.start(job, [], 1)
        for stage in ("sft", "rl", "eval"):
            settings = RunLoggers(project=PROJECT, wandb_mode="offline", group=GROUP)
            settings.run_name = ",".join(o.split(".")[-1] for o in overrides[1:])
            config = {"seed": int(name), "stage": {"rl": {"lr": float(overrides[1].split("=")[1])}}}
            loggers = settings.build(stage, job / stage, config)
            rows = (
                [LOGGED[stage](k) for k in (1, 2, 3)] if stage in LOGGED else [{"eval/bench/accuracy": 40.0}]
            )
            for step, row in enumerate(rows):
                for logger in loggers:
                    logger.log_metrics(row, step=step)
            finish(loggers)
            write_done(job / stage, {"metrics": rows[-1], "products": {}})
        invocation.end(job, number, "finished")
    import wandb

    wandb.teardown()  # the offline runs on disk before the tests read them
    return sweep_dir


@pytest.fixture(scope="module")
def offline_sweep(tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as env:  # the environment the loggers change, restored after
        env.delenv("WANDB_API_KEY", raising=False)
        for name in ("WANDB_SILENT", "WANDB_DATA_DIR", "VRL_WANDB_DATA_DIR"):
            env.delenv(name, raising=False)
        return write_sweep(tmp_path_factory.mktemp("wandb") / "sweep")


def online_copy(sweep_dir: Path, into: Path) -> Path:
    """The sweep as an online run leaves it: its records say mode online (the W&B runs live on
    the server then, not under <job>/wandb)."""
    copy = shutil.copytree(sweep_dir, into / "sweep", ignore=shutil.ignore_patterns("wandb"))
    for record in copy.glob("*/*/wandb_run.json"):
        identity = json.loads(record.read_text())
        record.write_text(json.dumps({**identity, "mode": "online", "entity": "the-team"}))
    return copy


def build(sweep_dir: Path) -> tuple[wr.Report, list[str], list[str]]:
    """The Report, as build_report computes its inputs: (report, swept keys, headline metrics)."""
    sweep = load_sweep(sweep_dir)
    swept, values = swept_values([job.overrides for job in sweep.jobs])
    labels = {job.name: label(v, f"job {job.name}") for job, v in zip(sweep.jobs, values)}
    headline = headline_metrics({k for job in sweep.jobs for k in job.metrics}, sweep.stages, sweep.objective)
    return wandb_report(sweep, wandb_runs(sweep), swept, labels, headline), swept, headline


def spec(report: wr.Report) -> dict:
    """The report as `save()` sends it: its viewspec's spec, JSON."""
    return json.loads(report._to_model().spec.model_dump_json(by_alias=True, exclude_none=True))


def grids(report: wr.Report) -> dict[str, wr.PanelGrid]:
    """Stage -> its panel grid (each follows the stage's heading)."""
    found, stage = {}, None
    for block in report.blocks:
        if isinstance(block, wr.H2):
            stage = str(block.text).removeprefix("Stage ")
        elif isinstance(block, wr.PanelGrid):
            found[stage] = block
    return found


def selects(filters: dict, run: dict) -> bool:
    """Whether a run matches a runset's filters as the spec holds them (W&B's `filterV2`: a flat
    list, each item after the first joined by its `connector`, AND binding tighter than OR; an
    item holding `filters` is a parenthesised group). An empty list selects every run."""

    def holds(item: dict) -> bool:
        if "filters" in item:
            return selects(item, run)
        assert item["key"]["section"] == "run" and item["op"] == "=" and not item.get("disabled"), item
        return run[item["key"]["name"]] == item["value"]

    alternatives: list[list[bool]] = [[]]
    for i, item in enumerate(filters["filters"]):
        if i and item.get("connector") == "OR":
            alternatives.append([])
        alternatives[-1].append(holds(item))
    return any(all(terms) for terms in alternatives)


def test_each_stages_runset_selects_exactly_that_stages_runs_of_the_sweep(offline_sweep):
    report, _, _ = build(offline_sweep)
    assert (report.project, report.entity) == (PROJECT, "")  # offline runs name no entity
    records = [json.loads(p.read_text()) for p in offline_sweep.glob("*/*/wandb_run.json")]
    assert len(records) == 6 and {r["group"] for r in records} == {GROUP}
    runs = [{"group": r["group"], "jobType": r["job_type"], "name": r["id"]} for r in records]
    runs += [{"group": "study-sweep-other", "jobType": stage, "name": f"x{stage}"} for stage in ("sft", "rl")]
    grid_specs = [b for b in spec(report)["blocks"] if b["type"] == "panel-grid"]
    assert [g["metadata"]["runSets"][0]["name"] for g in grid_specs] == ["sft runs", "rl runs", "eval runs"]
    for grid, stage in zip(grid_specs, ("sft", "rl", "eval")):
        [runset] = grid["metadata"]["runSets"]
        picked = {run["name"] for run in runs if selects(runset["filters"], run)}
        assert picked == {r["id"] for r in records if r["job_type"] == stage}, stage
        assert "project" not in runset  # the report's project: the runs'


def test_line_plots_show_the_curves_the_jobs_logged(offline_sweep):
    report, _, _ = build(offline_sweep)
    shown = {
        (stage, panel.y[0] if isinstance(panel.y[0], str) else panel.y[0].name, panel.x)
        for stage, grid in grids(report).items()
        for panel in grid.panels
        if isinstance(panel, wr.LinePlot)
    }
    expected = set()
    for stage in ("sft", "rl", "eval"):
        with next((offline_sweep / "0" / stage).glob("csv/**/metrics.csv")).open() as handle:
            header = next(csv.reader(handle))
        x = "train/rl_step" if "train/rl_step" in header else "Step"
        expected |= {(stage, metric, x) for metric, _ in CURVES if metric in header}
    assert shown == expected and len(shown) == 6  # sft: 2 losses; rl: reward, accuracy, ratio, loss


def test_parallel_coordinates_are_the_swept_keys_then_the_stages_headline_metrics(offline_sweep):
    report, swept, headline = build(offline_sweep)
    assert swept == ["stage.rl.lr", "seed"]
    saved = dict(zip(("sft", "rl", "eval"), [b for b in spec(report)["blocks"] if b["type"] == "panel-grid"]))
    for stage, grid in grids(report).items():
        [plot] = [p for p in grid.panels if isinstance(p, wr.ParallelCoordinatesPlot)]
        finals = [logged_name(k) for k in headline if k.split(":")[0].split("/")[0] == stage]
        assert [c.metric for c in plot.columns] == [wr.Config(k) for k in swept] + [
            wr.SummaryMetric(m) for m in finals
        ]
        done = json.loads((offline_sweep / "0" / stage / "DONE.json").read_text())["metrics"]
        assert finals and set(finals) <= set(done), stage  # what the stage's run logged last
        [panel] = [p for p in saved[stage]["metadata"]["panelBankSectionConfig"]["panels"]
                   if p["viewType"] == "Parallel Coordinates Plot"]  # fmt: skip
        accessors = [c["accessor"] for c in panel["config"]["columns"]]
        assert accessors == [
            "config:stage.value.rl.lr",
            "config:seed.value",
            *(f"summary:{m}" for m in finals),
        ]
        assert any(isinstance(p, wr.RunComparer) for p in grid.panels)


def test_the_report_serialises_to_the_wandb_spec(offline_sweep):
    report, _, _ = build(offline_sweep)
    model = report._to_model()
    assert model.display_name == "vrl sweep study"
    assert "python -m vrl -m debug=smoke stage.rl.lr=1e-5,2e-5 seed=0,1" in model.description
    saved = spec(report)
    assert [b["type"] for b in saved["blocks"]] == [
        "paragraph",
        "paragraph",
        "markdown-block",
        *["heading", "panel-grid"] * 3,
        "paragraph",
    ]
    assert "job 1 (stage.rl.lr=2e-5, seed=1): finished" in saved["blocks"][2]["content"]
    again = wr.Report._from_model(model)  # what W&B's loader makes of it
    assert len(grids(again)) == 3


def test_an_offline_sweep_is_one_line_and_no_upload(offline_sweep, tmp_path, monkeypatch, capsys):
    copy = shutil.copytree(offline_sweep, tmp_path / "sweep")
    from wandb.apis.public.service_api import ServiceApi

    monkeypatch.setattr(ServiceApi, "send_api_request", lambda *a, **k: pytest.fail("no upload offline"))
    assert main([str(copy)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("W&B report: not published (the jobs' W&B runs are offline)")
    assert f"python -m vrl.report {copy} --wandb" in out[-1] and (copy / "report" / "report.md").is_file()
    for record in copy.glob("*/*/wandb_run.json"):
        record.unlink()
    assert build_report(copy).wandb.startswith("W&B report: none (the jobs logged no W&B run")


class FakeServer:
    """W&B's server, as seen from Python: answers wandb-core's requests (auth, GraphQL)."""

    def __init__(self) -> None:
        self.graphql: list[tuple[str, dict]] = []

    def answer(self, request):
        from wandb.proto import wandb_api_pb2 as pb

        if request.HasField("auth_request"):
            who = pb.AuthenticateResponse(default_entity="me", username="me")  # not the runs' entity
            return pb.ApiResponse(auth_response=pb.AuthResponse(authenticate_response=who))
        query = request.graphql_request.query
        variables = json.loads(request.graphql_request.variables_json)
        self.graphql.append((query, variables))
        if "upsertView" in query:
            view = {**variables, "id": "VmlldzoxMjM0", "project": {"name": PROJECT, "entityName": "the-team"}}
            data = {"upsertView": {"view": view, "inserted": True}}
        elif "internalId" in query:  # a runset's project, by name
            assert (variables["entityName"], variables["projectName"]) == ("the-team", PROJECT), variables
            data = {"project": {"id": "UHJvamVjdDox", "internalId": "project-1"}}
        elif "models(" in query:  # the entity's projects: ours exists
            page = {"__typename": "PageInfo", "endCursor": None, "hasNextPage": False}
            node = {"__typename": "Project", "id": "UHJvamVjdDox", "name": PROJECT, "entityName": "the-team",
                    "createdAt": "2026-01-01T00:00:00", "isBenchmark": False, "user": None}  # fmt: skip
            data = {"models": {"pageInfo": page, "edges": [{"node": node}]}}
        else:
            pytest.fail(f"unexpected request: {query[:200]}")
        return pb.ApiResponse(graphql_response=pb.GraphQLResponse(data_json=json.dumps(data)))


def test_an_online_sweep_publishes_the_report_and_prints_its_url(
    offline_sweep, tmp_path, monkeypatch, capsys
):
    from wandb.apis.public.service_api import ServiceApi

    sweep_dir = online_copy(offline_sweep, tmp_path)
    server = FakeServer()
    monkeypatch.setattr(
        ServiceApi, "send_api_request", lambda api, request, timeout=None: server.answer(request)
    )
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    assert main([str(sweep_dir)]) == 0
    [(_, saved)] = [(q, v) for q, v in server.graphql if "upsertView" in q]
    assert (saved["entityName"], saved["projectName"], saved["displayName"]) == (
        "the-team",
        PROJECT,
        "vrl sweep study",
    )
    sent = json.loads(saved["spec"])
    assert [b["type"] for b in sent["blocks"]].count("panel-grid") == 3
    for grid in (b for b in sent["blocks"] if b["type"] == "panel-grid"):
        [runset] = grid["metadata"]["runSets"]
        assert runset["project"] == {"entityName": "the-team", "name": PROJECT, "id": "project-1"}
        assert GROUP in json.dumps(runset["filters"])
    url = [line for line in capsys.readouterr().out.splitlines() if line.startswith("W&B report: ")]
    # The app's address for the server's (WANDB_BASE_URL), the report's entity and project, its id.
    assert url == [f"W&B report: http://127.0.0.1:9/the-team/{PROJECT}/reports/vrl-sweep-study--VmlldzoxMjM0"]


@pytest.mark.parametrize(("flag", "status"), [(["--wandb"], 2), ([], 0)], ids=["asked", "online-sweep"])
def test_no_network_is_one_line_and_the_local_report(offline_sweep, tmp_path, flag, status):
    """Nothing listens on port 9: W&B's own client fails for real (WANDB_HTTP_TIMEOUT caps each
    request's wait; `timeout` makes a hang fail the test instead of stalling it)."""
    sweep_dir = online_copy(offline_sweep, tmp_path)
    env = {
        **os.environ,
        "WANDB_API_KEY": FAKE_KEY,
        "WANDB_BASE_URL": "http://127.0.0.1:9",
        "WANDB_HTTP_TIMEOUT": "5",
    }
    result = subprocess.run(
        [sys.executable, "-m", "vrl.report", str(sweep_dir), *flag],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == status, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert (
        lines[0].startswith("W&B report: not published (AuthenticationError: ") and "127.0.0.1:9" in lines[0]
    )
    assert lines[0].endswith(f"retry with `python -m vrl.report {sweep_dir} --wandb`")
    assert (sweep_dir / "report" / "report.md").is_file() and "sweep report: " in result.stdout


# wandb-core stopped (SIGSTOP) as its teardown begins: W&B's own exit then waits for it forever,
# as CI once saw a real wandb-core that kept retrying a request at a closed port.
STOPPED_SERVICE = """
import os, runpy, signal, sys
from wandb.sdk.lib.service.service_connection import ServiceConnection
teardown = ServiceConnection.teardown
def stop_the_service_first(self, exit_code):
    if self._proc is not None:
        pid = self._proc._process.pid
        open(os.environ["CORE_PID_FILE"], "w").write(str(pid))
        os.kill(pid, signal.SIGSTOP)
    return teardown(self, exit_code)
ServiceConnection.teardown = stop_the_service_first
sys.argv = ["vrl.report", *sys.argv[1:]]
runpy.run_module("vrl.report", run_name="__main__", alter_sys=True)
"""


def test_a_wandb_service_that_never_ends_does_not_keep_the_command_running(offline_sweep, tmp_path):
    from vrl.report.wandb_report import CLOSE_TIMEOUT_S

    sweep_dir = online_copy(offline_sweep, tmp_path)
    pid_file = tmp_path / "core.pid"
    env = {
        **os.environ,
        "WANDB_API_KEY": FAKE_KEY,
        "WANDB_BASE_URL": "http://127.0.0.1:9",
        "WANDB_HTTP_TIMEOUT": "5",
        "CORE_PID_FILE": str(pid_file),
    }
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    # Files, not pipes: the stopped wandb-core holds the pipes it inherited open until killed.
    with out.open("w") as stdout, err.open("w") as stderr:
        command = subprocess.Popen(
            [sys.executable, "-c", STOPPED_SERVICE, str(sweep_dir), "--wandb"],
            cwd=REPO,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    try:
        status = command.wait(timeout=CLOSE_TIMEOUT_S + 120)
    finally:
        command.kill()
        if pid_file.is_file():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert pid_file.is_file(), "the command started no W&B service: the test tests nothing"
    assert status == 2, err.read_text()[-3000:]
    [line] = [line for line in err.read_text().splitlines() if line.strip()]
    assert line.startswith("W&B report: not published (AuthenticationError: ")
    assert "sweep report: " in out.read_text() and (sweep_dir / "report" / "report.html").is_file()
