"""A real 2-job sweep (`python -m vrl -m`, Hydra's basic launcher, seeds 0 and 1, every stage
shrunk to seconds) and the report its end writes: tables against the jobs' own files, plots,
the terminal output, the HTML page in a headless browser; and a sweep whose second job fails."""

from __future__ import annotations

import csv
import json
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest
from vrl_testing import REPO, run_vrl

from vrl.report.build import build_report
from vrl.report.sweep import metric_key
from vrl.report.table import fmt, fmt_spread, spread

pytestmark = pytest.mark.slow

STAGES = ("data", "sft", "rl", "eval")
SHRUNK = [
    "debug=smoke",
    f"stages=[{','.join(STAGES)}]",
    "stage.sft.max_steps=2",
    "stage.rl.max_steps=2",
    "stage.eval.limit=4",
    "logger.wandb_mode=disabled",
    "trainer.enable_progress_bar=false",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("report") / "sweep"
    result = run_vrl(["-m", *SHRUNK, "seed=0,1", f"hydra.sweep.dir={sweep_dir}"], cwd=REPO, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return sweep_dir, result


def finals(job: Path) -> dict[str, float]:
    """The job's final metrics, read from its stages' DONE.json as the report names them."""
    out = {}
    for stage in STAGES:
        done = json.loads((job / stage / "DONE.json").read_text())
        out.update({metric_key(stage, k): float(v) for k, v in done["metrics"].items()})
    return out


def markdown_section(text: str, title: str) -> list[list[str]]:
    """The first table under `## title`, as rows of cells (header first, the rule left out)."""
    lines = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0].splitlines()
    rows = [line for line in lines if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_jobs_table_holds_each_jobs_own_metrics_and_overrides(sweep):
    sweep_dir, _ = sweep
    report = sweep_dir / "report"
    header, *rows = markdown_section((report / "report.md").read_text(), "Jobs")
    assert header[:3] == ["job", "seed", "status"]
    assert "eval/procedural_holdout/accuracy" in header and "sft:val/loss" in header
    assert "rl:rollout/reward_mean" in header and "rl:replay/effective_ratio" in header
    assert [row[:3] for row in rows] == [["0", "0", "finished"], ["1", "1", "finished"]]
    for row in rows:
        job = sweep_dir / row[0]
        overrides = (job / ".hydra" / "overrides.yaml").read_text().splitlines()
        assert f"- seed={row[1]}" in overrides  # the swept column is the job's own override
        metrics = finals(job)
        for column, cell in zip(header[3:], row[3:]):
            assert cell == fmt(metrics[column]), (row[0], column)
    # jobs.csv: every final metric at full precision, equal to the DONE.json values.
    with (report / "jobs.csv").open() as handle:
        saved = list(csv.DictReader(handle))
    assert [r["job"] for r in saved] == ["0", "1"] and [r["seed"] for r in saved] == ["0", "1"]
    for r in saved:
        metrics = finals(sweep_dir / r["job"])
        assert {k: float(r[k]) for k in metrics} == metrics


def test_seed_table_is_mean_and_spread_over_both_jobs(sweep):
    sweep_dir, _ = sweep
    header, *rows = markdown_section((sweep_dir / "report" / "report.md").read_text(), "Over seeds")
    assert header[0] == "seeds" and len(rows) == 1 and rows[0][0] == "0, 1"
    jobs = [finals(sweep_dir / "0"), finals(sweep_dir / "1")]
    for column, cell in zip(header[1:], rows[0][1:]):
        values = [job[column] for job in jobs]
        assert cell == fmt_spread(spread(values)), column
    loss = [job["sft:val/loss"] for job in jobs]
    expected = (
        f"{fmt(statistics.fmean(loss))} ± {fmt(statistics.stdev(loss))} [{fmt(min(loss))}, {fmt(max(loss))}]"
    )
    assert rows[0][header.index("sft:val/loss")] == expected


def test_curves_are_nonempty_pngs_shown_in_the_report(sweep):
    from PIL import Image

    sweep_dir, _ = sweep
    report = sweep_dir / "report"
    text = (report / "report.md").read_text()
    expected = {"sft_train_loss", "sft_val_loss", "rl_rollout_reward_mean", "rl_replay_effective_ratio"}
    pngs = {p.stem: p for p in report.glob("*.png") if not p.name.startswith("rollout_")}  # plots
    assert expected <= set(pngs), sorted(pngs)
    for name, png in pngs.items():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, name
        with Image.open(png) as image:
            assert image.size[0] >= 600 and len(image.convert("RGB").getcolors(1 << 20)) > 8, name
        assert f"]({png.name})" in text


def test_responses_side_by_side_are_the_jobs_own_eval_items(sweep):
    sweep_dir, _ = sweep
    header, *rows = markdown_section(
        (sweep_dir / "report" / "report.md").read_text(), "Responses side by side"
    )
    assert header == ["item", "gold", "seed=0", "seed=1"] and len(rows) == 4
    for column, job in ((2, "0"), (3, "1")):
        items = [
            json.loads(line)
            for line in (sweep_dir / job / "eval" / "procedural_holdout" / "items.jsonl").open()
        ]
        by_id = {item["id"]: item for item in items}
        for row in rows:
            item = by_id[row[0]]
            assert row[1] == str(item["gold"])
            mark = "✓" if item["correct"] else "✗"
            assert row[column] == f"{mark} {item['response'].strip()}".replace("|", "\\|")[: len(row[column])]


def test_rl_rollouts_side_by_side_are_each_jobs_own_samples_and_images(sweep):
    sweep_dir, _ = sweep
    report = sweep_dir / "report"
    text = (report / "report.md").read_text()
    header, *rows = markdown_section(text, "RL rollouts side by side")
    assert header[:3] == ["job", "prompt", "answer"] and [row[0] for row in rows] == ["seed=0", "seed=1"]
    for row, job in zip(rows, ("0", "1")):
        samples = sweep_dir / job / "rl" / "samples"
        last = max(int(p.stem.split("_")[1]) for p in samples.glob("step_*.jsonl"))
        lines = [json.loads(line) for line in (samples / f"step_{last}.jsonl").open()]
        group = [r for r in lines if r["group"] == lines[0]["group"]]
        assert f"step {last + 1}" in text
        assert row[1] == lines[0]["prompt"].replace("|", "\\|") and row[2] == str(lines[0]["answer"])
        shown = row[3].split("<br>")
        assert len(shown) == min(4, len(group))
        for cell, sample in zip(shown, group):
            assert cell.startswith(f"{sample['reward']:.2f} / {sample['advantage']:+.2f}: "), cell
        copy = report / f"rollout_rl_job{job}_0.png"
        assert copy.read_bytes() == (samples / lines[0]["images"][0]).read_bytes()
        assert f"]({copy.name})" in text


def test_the_multirun_prints_the_table_and_the_report_path(sweep):
    sweep_dir, result = sweep
    report = build_report(sweep_dir)  # the same files again: the table the callback printed
    assert report.terminal in result.stdout
    assert f"sweep report: {sweep_dir / 'report' / 'report.html'}" in result.stdout
    assert "no sweep report" not in result.stderr
    assert "W&B report: none (the jobs logged no W&B run: logger.wandb_mode=disabled)" in result.stdout


class _Cells(HTMLParser):
    """Every table's rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_the_html_page_renders_the_tables_in_a_browser(sweep, browser, tmp_path):
    from PIL import Image

    sweep_dir, _ = sweep
    page = sweep_dir / "report" / "report.html"
    assert "<script" not in page.read_text() and "http://" not in page.read_text()
    parser = _Cells()
    parser.feed(browser.dump_dom(page))
    jobs = parser.tables[0]
    header, *rows = markdown_section((sweep_dir / "report" / "report.md").read_text(), "Jobs")
    assert jobs == [header, *rows]  # the rendered cells are the markdown's, value for value
    assert len(parser.tables) >= 4  # jobs, over seeds, responses, every metric
    shot = browser.screenshot(page, tmp_path / "report.png", size=(1280, 1600))
    with Image.open(shot) as image:
        assert image.size == (1280, 1600)
        gray = image.convert("L")
        low, high = gray.getextrema()
        assert high - low > 100, "a blank page"
        assert len(image.convert("RGB").getcolors(1 << 20) or []) > 50, "hardly any colours: nothing drawn"


def test_a_failed_job_ends_the_sweep_with_a_report_that_shows_it(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_vrl(
        [
            "-m",
            *SHRUNK,
            "stages=[data,eval]",
            "products.model=null,/nonexistent/model,null",  # the 3rd job never starts
            f"hydra.sweep.dir={sweep_dir}",
        ],
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "vrl: error: products.model=/nonexistent/model does not exist" in result.stderr
    header, *rows = markdown_section((sweep_dir / "report" / "report.md").read_text(), "Jobs")
    assert header[:3] == ["job", "products.model", "status"]
    assert [row[:3] for row in rows] == [
        ["0", "null", "finished"],
        ["1", "/nonexistent/model", "failed"],
        ["2", "null", "missing"],
    ]
    assert "the sweep stopped before its end" in result.stdout
    text = (sweep_dir / "report" / "report.md").read_text()
    assert "MissingFileError" in text and "job 2 (products.model=null): missing: no job directory" in text
