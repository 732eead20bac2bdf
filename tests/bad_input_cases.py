"""Bad input, case by case: what a careless user or an attacker types, and what vrl must answer.

Every case is `python -m vrl <args>` on the smoke-sized default (`debug=smoke logger=csv`).
A case either expects one line, `vrl: error: ...` containing `expect`, with exit status 2 and
no traceback, before any work starts; or (`expect=None`) a run that succeeds and whose result
`check` verifies (e.g. a 16-bit PNG is grey, not white; a record the model cannot take is
skipped and counted).

`tests/test_bad_input.py` runs every case; `python tests/bad_input_cases.py` runs them all
through the real entry point and prints the census (one-line errors, wrong diagnoses,
tracebacks, silent wrong results).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
# This checkout's vrl, not whatever the environment has installed (run as a script, only tests/
# is on the path); and tests/ for vrl_testing and the bad rewards.
for _path in (HERE, HERE.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from vrl_testing import CONF_DIR, compose  # noqa: E402

BASE = ("debug=smoke", "logger=csv")


@dataclass
class Outcome:
    """How a run ended: "error" (one line, exit 2), "traceback" (anything else that raised) or "ok"."""

    kind: str
    message: str = ""
    output: str = ""
    seconds: float = 0.0
    lost: list[str] = field(default_factory=list)  # files of the run dir whose content is gone
    wrote: list[str] = field(default_factory=list)  # files written or changed by the run


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: short name (the test id).
        args: overrides after BASE; `{tmp}` is the case's scratch directory, `{run}` its run dir.
        expect: a substring of the one-line error; None = the run must succeed and pass `check`.
        setup: writes the files the case needs into `tmp` (gets tmp, returns nothing).
        check: for `expect=None`, verifies the finished run (gets the run dir); raises if wrong.
        lane: "fast" (fails in pre-flight, or runs only the data stage: seconds; composed in
            process), "cli" (needs the real entry point, in process), "slow" (trains first:
            marked slow).
        found: the finding it comes from: traceback, silent, wrong (misdiagnosed), ok (was
            already one line), new (not in the issue's list).
    """

    id: str
    args: tuple[str, ...]
    expect: str | None
    setup: Callable[[Path], None] | None = None
    check: Callable[[Path], None] | None = None
    lane: str = "fast"
    found: str = "new"
    base: tuple[str, ...] = field(default=BASE)
    unless: str = ""  # "cuda" / "vllm": the case is moot where that is available
    during: tuple[str, ...] = ()  # stages that run before the error can be known (none: pre-flight)
    interrupt: str = ""  # a glob under the run dir: press Ctrl-C once a file matching it holds a line

    def argv(self, tmp: Path, run: Path) -> list[str]:
        fill = {"{tmp}": str(tmp), "{run}": str(run)}
        return [_fill(a, fill) for a in (*self.base, *self.args)]


def _fill(arg: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        arg = arg.replace(name, value)
    return arg


# -- runners -------------------------------------------------------------------------------------


def run_cli(args: list[str], run_dir: Path) -> Outcome:
    """`python -m vrl ARGS hydra.run.dir=RUN_DIR`, in this process: vrl's real entry point."""
    from vrl.__main__ import main

    out = io.StringIO()
    # The entry point sets process-wide variables (HYDRA_FULL_ERROR, VRL_COMMAND) and drops an
    # inherited WANDB_SERVICE: all come back as they were, for the tests that run after this one.
    saved_argv, saved_env = sys.argv, dict(os.environ)
    given = any(a.startswith("hydra.run.dir=") for a in args)
    sys.argv = ["vrl", *args, *([] if given else [f"hydra.run.dir={run_dir}"])]
    start = time.perf_counter()
    kind, message = "ok", ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                main()
            except SystemExit as stop:
                kind = "ok" if stop.code in (0, None) else "error"
            except BaseException:  # noqa: BLE001 - a traceback is what we are counting
                traceback.print_exc()
                kind = "traceback"
    finally:
        from hydra.core.global_hydra import GlobalHydra

        GlobalHydra.instance().clear()  # the Compose API refuses to start while it is set
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    text = out.getvalue()
    # one line: an error a user can fix, or a stop signal's report (vrl.interrupt)
    errors = [line for line in text.splitlines() if line.startswith(("vrl: error:", "vrl: stopped by"))]
    if kind == "error":
        if len(errors) != 1 or "Traceback" in text:
            kind = "traceback"
        else:
            message = errors[0].removeprefix("vrl: error: ").removeprefix("vrl: ")
    return Outcome(kind, message, text, time.perf_counter() - start)


def run_composed(args: list[str], run_dir: Path) -> Outcome:
    """The same study composed with Hydra's Compose API and run in this process (half the
    start-up of the entry point: one composition instead of two); errors are classified as the
    entry point classifies them."""
    from vrl.cli_errors import one_line_error
    from vrl.run import run

    start = time.perf_counter()
    try:
        given = any(a.startswith("paths.run_dir=") for a in args)
        run(compose([*args, *([] if given else [f"paths.run_dir={run_dir}"])]))
    except Exception as error:  # noqa: BLE001
        message = one_line_error(error, str(CONF_DIR))
        if message is None:
            return Outcome("traceback", "", traceback.format_exc(), time.perf_counter() - start)
        return Outcome("error", message, "", time.perf_counter() - start)
    return Outcome("ok", seconds=time.perf_counter() - start)


def run_case(case: Case, tmp: Path, cli: bool = False) -> Outcome:
    tmp.mkdir(parents=True, exist_ok=True)
    run_dir = tmp / "run"
    if case.setup is not None:
        case.setup(tmp)
    before = snapshot(run_dir)
    runner = run_cli if (cli or case.interrupt or case.lane == "cli") else run_composed
    with _ctrl_c_when(run_dir, case.interrupt):
        outcome = runner(case.argv(tmp, run_dir), run_dir)
    outcome.lost, outcome.wrote = _compare(before, snapshot(run_dir))
    return outcome


def snapshot(run_dir: Path) -> dict[str, str]:
    """Every file under `run_dir` (relative path -> content hash), Hydra's own record aside."""
    import hashlib

    if not run_dir.is_dir():
        return {}
    files = {}
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if path.is_file() and not rel.startswith(".hydra/"):
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def _compare(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str]]:
    """(what is lost: a file of a finished stage (one with DONE.json), an eval item cache or a
    checkpoint whose content is nowhere in the run dir any more; the files written or changed)."""
    finished = {rel.split("/")[0] for rel in before if rel.count("/") == 1 and rel.endswith("/DONE.json")}
    kept = set(after.values())
    lost = [
        rel
        for rel, digest in before.items()
        if digest not in kept
        and (
            rel.split("/")[0] in finished
            or (Path(rel).name.startswith("items") and rel.endswith(".jsonl"))
            or rel.endswith(".ckpt")
        )
    ]
    wrote = [rel for rel, digest in after.items() if before.get(rel) != digest]
    return lost, wrote


# Written before any stage runs, and not a stage's product: the tiny model's init, the W&B
# logger's own directory (top-level files, the run's log and summary, are not counted either).
_NOT_WORK = ("model_init/", "wandb/")


def stage_work(case: Case, outcome: Outcome) -> list[str]:
    """Files a stage wrote though the error should have stopped the run before it (for a case
    found by a stage's own work, that stage's files are expected)."""
    allowed = (*_NOT_WORK, *(f"{stage}/" for stage in case.during))
    return [rel for rel in outcome.wrote if "/" in rel and not rel.startswith(allowed)]


@contextlib.contextmanager
def _ctrl_c_when(run_dir: Path, pattern: str):
    """Press Ctrl-C (KeyboardInterrupt in the main thread) once a file under `run_dir` matching
    `pattern` holds a complete line: the run is stopped mid-work."""
    import _thread
    import threading

    if not pattern:
        yield
        return
    import signal

    # Python's own Ctrl-C handler, as a fresh process has it (an earlier case in this process,
    # or a library it loaded, may have replaced it).
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            if any(p.is_file() and b"\n" in p.read_bytes() for p in run_dir.glob(pattern)):
                _thread.interrupt_main()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        signal.signal(signal.SIGINT, handler)


def verdict(case: Case, outcome: Outcome, tmp: Path) -> str:
    """one-line | wrong (one line, wrong key or cause) | traceback | silent (ran on, or lost or
    damaged what was there) | late (one line, but a stage had started work first) | handled."""
    if outcome.kind == "traceback":
        return "traceback"
    if outcome.lost:
        return "silent"
    try:
        if case.check is not None:
            case.check(tmp / "run")
    except AssertionError as error:
        outcome.message = f"{outcome.message} [check: {error}]"
        return "silent"
    if case.expect is None:
        return "wrong" if outcome.kind == "error" else "handled"
    if outcome.kind == "ok":
        return "silent"
    if case.expect not in outcome.message:
        return "wrong"
    return "late" if stage_work(case, outcome) else "one-line"


# -- fixture files -------------------------------------------------------------------------------


def _rows(n: int, image: str | None = "img.png", **extra: Any) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        row = {"id": f"r{i}", "question": "<image> How many circles?", "answer": str(i % 4 + 1)}
        if image is not None:
            row["images"] = [image]
        rows.append({**row, **extra})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]], extra_lines: list[bytes] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for row in rows:
            handle.write(json.dumps(row).encode() + b"\n")
        for line in extra_lines:
            handle.write(line + b"\n")


def _grey(path: Path, size: tuple[int, int] = (32, 32)) -> None:
    Image.new("RGB", size, (128, 128, 128)).save(path)


def jsonl_dataset(rows: int = 24, **images: Callable[[Path], None]) -> Callable[[Path], None]:
    """A setup writing `tmp/data.jsonl` with `rows` good records (a grey 32x32 image each) and
    one extra record per entry of `images` (name -> writer of that image file)."""

    def setup(tmp: Path) -> None:
        _grey(tmp / "img.png")
        extra = []
        for name, make in images.items():
            make(tmp / f"{name}.png")
            extra += [
                {"id": name, "question": "<image> What is it?", "answer": "1", "images": [f"{name}.png"]}
            ]
        write_jsonl(tmp / "data.jsonl", _rows(rows) + extra)

    return setup


def _png16(path: Path) -> None:
    Image.fromarray(np.full((32, 32), 32768, dtype=np.uint16)).save(path)  # mid-grey, 16-bit


def _png16_rgb(path: Path) -> None:
    # 16-bit RGB PNG written by hand (PIL cannot write one): mid-grey in every channel.
    import struct
    import zlib

    width = height = 32
    raw = b"".join(b"\x00" + struct.pack(">HHH", 32768, 32768, 32768) * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(png)


def _mode(mode: str, value: Any) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        # PNG holds no 32-bit integer, float or CMYK pixels: those are TIFF (PIL reads by content).
        Image.new(mode, (32, 32), value).save(
            path, format="PNG" if mode in ("L", "LA", "RGB", "RGBA", "P") else "TIFF"
        )

    return make


def _palette(path: Path) -> None:
    Image.new("RGB", (32, 32), (128, 128, 128)).convert("P").save(path)


def _wide(path: Path) -> None:
    Image.new("RGB", (10000, 10), (128, 128, 128)).save(path)


def _tall(path: Path) -> None:
    Image.new("RGB", (4, 2000), (128, 128, 128)).save(path)


def _huge(path: Path) -> None:
    Image.new("1", (9000, 9000), 1).save(path)  # 81 M pixels in a small file


def _corrupt(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)


def _truncated(path: Path) -> None:
    _grey(path, (64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _dataset_rows(run: Path) -> list[dict[str, Any]]:
    from datasets import concatenate_datasets, load_from_disk

    parts = [load_from_disk(str(run / "data" / split)) for split in ("train", "val")]
    return list(concatenate_datasets(parts))


def _report(run: Path) -> str:
    return (run / "data" / "report.md").read_text()


def expect_grey(name: str) -> Callable[[Path], None]:
    """The record `name` was kept and its image reads back as mid-grey RGB (not white, not black)."""

    def check(run: Path) -> None:
        import io as _io

        rows = {r["id"]: r for r in _dataset_rows(run)}
        assert name in rows, f"record {name} was dropped: {_report(run)}"
        image = rows[name]["images"][0]
        if isinstance(image, dict):
            image = Image.open(_io.BytesIO(image["bytes"]))
        pixels = np.asarray(image.convert("RGB"), dtype=float)
        assert image.mode == "RGB" or True
        assert abs(pixels.mean() - 128) < 8, f"{name}: mean {pixels.mean():.1f}, expected ~128"

    return check


def expect_skipped(name: str, reason: str) -> Callable[[Path], None]:
    """The record `name` is not in the dataset and the data report counts it under `reason`."""

    def check(run: Path) -> None:
        ids = {r["id"] for r in _dataset_rows(run)}
        assert name not in ids, f"record {name} was kept"
        report = _report(run)
        assert f"| {reason} | 1 |" in report, report
        done = json.loads((run / "data" / "DONE.json").read_text())
        assert done["metrics"].get(f"data/skipped/{reason}") == 1.0, done["metrics"]

    return check


def _non_utf8(tmp: Path) -> None:
    _grey(tmp / "img.png")
    bad = {
        "id": "latin1",
        "question": "<image> Combien de cercles ? Réponse:",
        "answer": "2",
        "images": ["img.png"],
    }
    write_jsonl(tmp / "data.jsonl", _rows(24), [json.dumps(bad, ensure_ascii=False).encode("latin-1")])


def _check_non_utf8(run: Path) -> None:
    rows = _dataset_rows(run)
    assert all("\ufffd" not in m["content"] for r in rows for m in r["prompt"]), "replacement characters"
    assert "latin1" not in {r["id"] for r in rows}
    assert "| bad_encoding | 1 |" in _report(run), _report(run)


def _empty_file(tmp: Path) -> None:
    (tmp / "data.jsonl").write_text("")


def _binary_file(tmp: Path) -> None:
    (tmp / "data.jsonl").write_bytes(bytes(range(256)) * 40)


def _text_file(tmp: Path) -> None:
    (tmp / "data.jsonl").write_text("question,answer\nhow many?,3\n")


def _not_objects(tmp: Path) -> None:
    (tmp / "data.jsonl").write_text('[1, 2]\n"text"\n3\n')


def _no_answer(tmp: Path) -> None:
    write_jsonl(tmp / "data.jsonl", [{"question": "q", "solution": "1"}] * 10)


def _bad_json_only(tmp: Path) -> None:
    (tmp / "data.jsonl").write_text("{not json\n" * 30)


def _file(tmp: Path) -> None:
    (tmp / "afile").write_text("not a directory\n")


def _readonly_dir(tmp: Path) -> None:
    (tmp / "ro").mkdir()
    os.chmod(tmp / "ro", 0o555)


def _model_dir(tmp: Path, weights: bytes | None = b"garbage", config: str | None = None) -> None:
    model = tmp / "model"
    model.mkdir()
    (model / "config.json").write_text(
        config if config is not None else json.dumps({"model_type": "qwen2_5_vl"})
    )
    if weights is not None:
        (model / "model.safetensors").write_bytes(weights)


def _corrupt_safetensors(tmp: Path) -> None:
    _model_dir(tmp)


def _truncated_safetensors(tmp: Path) -> None:
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}
    ).encode()
    _model_dir(tmp, len(header).to_bytes(8, "little") + header + b"\x00" * 100)


def _no_weights(tmp: Path) -> None:
    _model_dir(tmp, weights=None)


def _bad_config_json(tmp: Path) -> None:
    _model_dir(tmp, config="{not json")


def _empty_dir(tmp: Path) -> None:
    (tmp / "empty").mkdir()


def _not_a_dataset(tmp: Path) -> None:
    (tmp / "plain").mkdir()
    (tmp / "plain" / "notes.txt").write_text("hello")


def _wrong_schema_dataset(tmp: Path) -> None:
    from datasets import Dataset

    Dataset.from_dict({"text": ["a", "b"]}).save_to_disk(str(tmp / "ds"))


def _corrupt_done(tmp: Path) -> None:
    (tmp / "run" / "data").mkdir(parents=True)
    (tmp / "run" / "data" / "DONE.json").write_text('{"products": {"train_da')


def _done_product_gone(tmp: Path) -> None:
    (tmp / "run" / "data").mkdir(parents=True)
    done = {
        "products": {
            "train_data": str(tmp / "run" / "data" / "train"),
            "val_data": str(tmp / "run" / "data" / "val"),
        }
    }
    (tmp / "run" / "data" / "DONE.json").write_text(
        json.dumps({**done, "metrics": {}, "tables": {}, "seconds": 1.0})
    )


def _copied_run(tmp: Path) -> None:
    """A finished data stage in `tmp/original`, copied to `tmp/run`, the original deleted."""
    original = tmp / "original"
    outcome = run_composed([*BASE, "stages=[data]"], original)
    assert outcome.kind == "ok", outcome.output or outcome.message
    shutil.copytree(original, tmp / "run")
    shutil.rmtree(original)


def _check_copied_run(run: Path) -> None:
    text = (run / "data" / "DONE.json").read_text()
    assert "original" not in text
    assert (run / "sft" / "model" / "config.json").is_file()


def _check_interrupted_eval(run: Path) -> None:
    """Ctrl-C mid-eval: the stage is not marked finished, the items scored so far are kept."""
    assert not (run / "eval" / "DONE.json").exists(), "an interrupted eval was marked finished"
    items = (run / "eval" / "procedural_holdout" / "items.jsonl").read_text().splitlines()
    assert 0 < len(items) < 64, f"{len(items)} items scored before the interrupt"


def _finished_data(tmp: Path) -> None:
    """A finished data stage in `tmp/run` (smoke sizes: 48 train records); its DONE.json copied
    to `tmp/done.before`."""
    outcome = run_composed([*BASE, "stages=[data]"], tmp / "run")
    assert outcome.kind == "ok", outcome.output or outcome.message
    shutil.copy(tmp / "run" / "data" / "DONE.json", tmp / "done.before")


def _check_record_kept(run: Path) -> None:
    """The rerun with other data settings skipped the finished data stage and kept its record."""
    assert (run / "data" / "DONE.json").read_text() == (run.parent / "done.before").read_text()
    from omegaconf import OmegaConf

    record = OmegaConf.load(run / "data" / "config.yaml")
    assert record.stage.data.train_size == 48, "the record of how the data stage ran was rewritten"
    from datasets import load_from_disk

    assert len(load_from_disk(str(run / "data" / "train"))) == 48


def _eval_with_model_a(tmp: Path) -> None:
    """An eval of 4 items with the tiny model of seed 0, then 'killed': its DONE.json removed."""
    outcome = run_composed([*BASE, "stages=[eval]", "stage.eval.limit=4"], tmp / "run")
    assert outcome.kind == "ok", outcome.output or outcome.message
    (tmp / "run" / "eval" / "DONE.json").unlink()


def _check_model_b_scored_again(run: Path) -> None:
    out = run / "eval" / "procedural_holdout"
    stale = [json.loads(line) for line in (out / "items.stale-1.jsonl").read_text().splitlines()]
    fresh = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert len(stale) == 4 and len(fresh) == 4, (len(stale), len(fresh))
    assert {r["cache_key"] for r in stale}.isdisjoint({r["cache_key"] for r in fresh}), "A's items used for B"


# -- the cases -----------------------------------------------------------------------------------

J = "data=[jsonl]", "data.jsonl.path={tmp}/data.jsonl", "stages=[data]"  # a jsonl source, data stage only
EVAL_GIVEN = "stages=[eval]", "products.model={tmp}/model"

CASES: list[Case] = [
    # SFT settings: ranges and cross-field rules (stage.sft.*)
    Case("sft-max_steps-0", ("stage.sft.max_steps=0",), "stage.sft.max_steps=0 must be", found="silent"),
    Case(
        "sft-max_steps-neg", ("stage.sft.max_steps=-5",), "stage.sft.max_steps=-5 must be", found="traceback"
    ),
    Case("sft-max_epochs-0", ("stage.sft.max_epochs=0",), "stage.sft.max_epochs=0 must be"),
    Case(
        "sft-unbounded",
        ("stage.sft.max_steps=-1", "stage.sft.max_epochs=null"),
        "stage.sft.max_steps=-1 must be",
    ),
    Case(
        "sft-batch_size-0",
        ("stage.sft.batch_size=0",),
        "stage.sft.batch_size=0 must be >= 1",
        found="traceback",
    ),
    Case(
        "sft-batch_size-neg",
        ("stage.sft.batch_size=-4",),
        "stage.sft.batch_size=-4 must be >= 1",
        found="traceback",
    ),
    Case(
        "sft-accumulate-0",
        ("stage.sft.accumulate_grad_batches=0",),
        "stage.sft.accumulate_grad_batches=0",
        found="traceback",
    ),
    Case("sft-lr-0", ("stage.sft.lr=0",), "stage.sft.lr=0 must be > 0", found="traceback"),
    Case("sft-lr-neg", ("stage.sft.lr=-0.001",), "stage.sft.lr=-0.001 must be > 0", found="traceback"),
    Case("sft-lr-nan", ("stage.sft.lr=nan",), "stage.sft.lr=nan must be"),
    Case("sft-lr-inf", ("stage.sft.lr=inf",), "stage.sft.lr=inf must be"),
    Case("sft-lr-word", ("stage.sft.lr=fast",), "'stage.sft.lr' should be float"),
    Case("sft-weight_decay-neg", ("stage.sft.weight_decay=-0.1",), "stage.sft.weight_decay=-0.1 must be"),
    Case("sft-warmup-neg", ("stage.sft.warmup_steps=-1",), "stage.sft.warmup_steps=-1 must be"),
    Case("sft-warmup-longer-than-run", ("stage.sft.warmup_steps=10",), "stage.sft.warmup_steps=10 must be"),
    Case(
        "sft-schedule-unknown", ("stage.sft.lr_schedule=linear",), "'stage.sft.lr_schedule' should be one of"
    ),
    Case("sft-min_lr_ratio", ("stage.sft.min_lr_ratio=2",), "stage.sft.min_lr_ratio=2 must be"),
    Case("sft-clip-neg", ("stage.sft.gradient_clip_val=-1",), "stage.sft.gradient_clip_val=-1 must be"),
    Case("sft-max_length-1", ("stage.sft.max_length=1",), "stage.sft.max_length=1 must be", found="silent"),
    Case("sft-max_length-0", ("stage.sft.max_length=0",), "stage.sft.max_length=0 must be"),
    Case(
        "sft-val_every-0",
        ("stage.sft.val_every_n_steps=0",),
        "stage.sft.val_every_n_steps=0",
        found="traceback",
    ),
    Case(
        "sft-val_every-neg",
        ("stage.sft.val_every_n_steps=-2",),
        "stage.sft.val_every_n_steps=-2",
        found="traceback",
    ),
    Case("sft-save_every-0", ("stage.sft.save_every_n_steps=0",), "stage.sft.save_every_n_steps=0"),
    Case("sft-log_every-0", ("stage.sft.log_every_n_steps=0",), "stage.sft.log_every_n_steps=0"),
    Case("sft-num_workers-neg", ("stage.sft.num_workers=-1",), "stage.sft.num_workers=-1"),
    Case("sft-template-field", ("stage.sft.response_template='{solution}'",), "stage.sft.response_template="),
    Case("sft-template-brace", ("stage.sft.response_template='\\boxed{'",), "stage.sft.response_template="),
    Case("sft-dataset-empty", ("stage.sft.dataset=''",), "stage.sft.dataset='' must be"),
    Case("sft-dataset-unknown", ("stage.sft.dataset=trian_data",), "needs product 'trian_data'"),
    Case("sft-val_dataset-unknown", ("stage.sft.val_dataset=vla_data",), "stage.sft.val_dataset='vla_data'"),
    # RL settings (stage.rl.*)
    Case("rl-max_steps-0", ("stage.rl.max_steps=0",), "stage.rl.max_steps=0 must be >= 1", found="traceback"),
    Case(
        "rl-max_steps-neg", ("stage.rl.max_steps=-3",), "stage.rl.max_steps=-3 must be >= 1", found="silent"
    ),
    Case(
        "rl-prompts-0",
        ("stage.rl.prompts_per_step=0",),
        "stage.rl.prompts_per_step=0 must be",
        found="traceback",
    ),
    Case(
        "rl-prompts-neg",
        ("stage.rl.prompts_per_step=-8",),
        "stage.rl.prompts_per_step=-8 must be",
        found="traceback",
    ),
    Case("rl-group-1", ("stage.rl.group_size=1",), "stage.rl.group_size=1 must be >= 2", found="silent"),
    Case("rl-group-0", ("stage.rl.group_size=0",), "stage.rl.group_size=0 must be >= 2", found="traceback"),
    Case("rl-lr-0", ("stage.rl.lr=0",), "stage.rl.lr=0 must be > 0", found="traceback"),
    Case("rl-lr-neg", ("stage.rl.lr=-1e-6",), "stage.rl.lr=-1e-06 must be > 0", found="traceback"),
    Case("rl-lr-inf", ("stage.rl.lr=inf",), "stage.rl.lr=inf must be"),
    Case("rl-micro-0", ("stage.rl.micro_batch_size=0",), "stage.rl.micro_batch_size=0"),
    Case("rl-save_every-0", ("stage.rl.save_every_n_steps=0",), "stage.rl.save_every_n_steps=0"),
    Case("rl-log_every-0", ("stage.rl.log_every_n_steps=0",), "stage.rl.log_every_n_steps=0"),
    Case("rl-weight_decay-neg", ("stage.rl.weight_decay=-1",), "stage.rl.weight_decay=-1"),
    Case("rl-clip-neg", ("stage.rl.gradient_clip_val=-1",), "stage.rl.gradient_clip_val=-1"),
    Case("rl-dataset-unknown", ("stage.rl.dataset=prompts",), "needs product 'prompts'"),
    Case("rl-steps-bool", ("stage.rl.max_steps=true",), "'stage.rl.max_steps' should be int"),
    Case(
        "rl-staleness-2",
        ("stage.rl.max_staleness=2",),
        "stage.rl.max_staleness=2 must be 0 (synchronous) or 1",
    ),
    Case(
        "rl-staleness-rethink",
        ("stage.rl.max_staleness=1", "rethink=forced"),
        "stage.rl.max_staleness=1 cannot rethink",
    ),
    Case(
        "rl-staleness-dynamic-sampling",
        ("stage.rl.max_staleness=1", "replay=filter", "replay.target_size=16"),
        "stage.rl.max_staleness=1 cannot do dynamic sampling",
    ),
    # sampling (rollout.sampling.*, stage.eval.sampling.*)
    Case(
        "sampling-greedy-rl",
        ("rollout.sampling.temperature=0",),
        "rollout.sampling.temperature=0",
        found="traceback",
    ),
    Case(
        "sampling-temperature-neg",
        ("rollout.sampling.temperature=-1",),
        "rollout.sampling.temperature=-1",
        found="traceback",
    ),
    Case(
        "sampling-temperature-nan", ("rollout.sampling.temperature=nan",), "rollout.sampling.temperature=nan"
    ),
    Case(
        "sampling-temperature-inf", ("rollout.sampling.temperature=inf",), "rollout.sampling.temperature=inf"
    ),
    Case(
        "sampling-top_p-2",
        ("rollout.sampling.top_p=2",),
        "rollout.sampling.top_p=2 must be in (0, 1]",
        found="silent",
    ),
    Case(
        "sampling-top_p-0",
        ("rollout.sampling.top_p=0",),
        "rollout.sampling.top_p=0 must be in (0, 1]",
        found="silent",
    ),
    Case("sampling-top_p-neg", ("rollout.sampling.top_p=-0.5",), "rollout.sampling.top_p=-0.5"),
    Case("sampling-top_k-neg", ("rollout.sampling.top_k=-1",), "rollout.sampling.top_k=-1"),
    Case(
        "sampling-max_new_tokens-0",
        ("rollout.sampling.max_new_tokens=0",),
        "rollout.sampling.max_new_tokens=0",
        found="traceback",
    ),
    Case(
        "sampling-max_new_tokens-neg",
        ("rollout.sampling.max_new_tokens=-8",),
        "rollout.sampling.max_new_tokens=-8",
        found="traceback",
    ),
    Case(
        "sampling-repetition-0",
        ("rollout.sampling.repetition_penalty=0",),
        "rollout.sampling.repetition_penalty=0",
    ),
    Case("sampling-stop-empty", ("rollout.sampling.stop=['']",), "rollout.sampling.stop="),
    Case("sampling-unknown-key", ("+rollout.sampling.topp=0.9",), "rollout.sampling.topp"),
    Case("eval-sampling-top_p", ("+stage.eval.sampling.top_p=2",), "stage.eval.sampling.top_p=2"),
    Case(
        "eval-sampling-unknown",
        ("+stage.eval.sampling.temprature=0",),
        "stage.eval.sampling has no temprature",
    ),
    Case("eval-max_new_tokens-0", ("stage.eval.max_new_tokens=0",), "stage.eval.max_new_tokens=0"),
    # eval settings
    Case("eval-limit-0", ("stage.eval.limit=0",), "stage.eval.limit=0 must be", found="silent"),
    Case("eval-limit-neg", ("stage.eval.limit=-1",), "stage.eval.limit=-1 must be", found="silent"),
    Case("eval-table_items-neg", ("stage.eval.table_items=-1",), "stage.eval.table_items=-1"),
    Case("eval-no-benchmark", ("benchmark=[]", "stages=[eval]"), "needs at least one benchmark"),
    Case(
        "eval-benchmark-missing-path",
        ("benchmark=[mathvista]", "benchmark.mathvista.path=/no/such/mathvista", "stages=[data,sft,eval]"),
        "benchmark.mathvista.path",
    ),
    Case(
        "smoke-with-benchmarks",
        ("benchmark=[mathvista,mathverse]", "benchmark.mathvista.path=/no/such/mv", "stages=[eval]"),
        "benchmark.mathvista.path",
        found="wrong",
    ),
    # data stage settings
    Case("data-train_size-0", ("stage.data.train_size=0",), "stage.data.train_size=0"),
    Case("data-val_size-0", ("stage.data.val_size=0",), "stage.data.val_size=0"),
    Case("data-sources-unknown", ("stage.data.sources=[procedual]",), "stage.data.sources"),
    Case("data-products-clash", ("stage.data.val_product=train_data",), "stage.data.val_product="),
    Case("data-no-source", ("data=[]",), "needs at least one source"),
    Case("data-image-limits", ("stage.data.max_aspect_ratio=0.5",), "stage.data.max_aspect_ratio=0.5"),
    Case("procedural-family-unknown", ("data.procedural.families=[circles]",), "data.procedural.families"),
    Case("procedural-image-tiny", ("data.procedural.image_size=4",), "data.procedural.image_size"),
    Case("procedural-weight-neg", ("data.procedural.weight=-1",), "data.procedural.weight"),
    Case("procedural-num_samples-neg", ("data.procedural.num_samples=-5",), "data.procedural.num_samples"),
    Case("procedural-too-few", ("data.procedural.num_samples=4", "stages=[data]"), "only 4 valid samples"),
    # data files
    Case("hf-no-path", ("data=[hf]", "stages=[data]"), "data.hf.path", found="wrong"),
    Case("jsonl-no-path", ("data=[jsonl]", "stages=[data]"), "data.jsonl.path"),
    Case("parquet-no-path", ("data=[parquet]", "stages=[data]"), "data.parquet.path"),
    Case(
        "jsonl-missing-file",
        ("data=[jsonl]", "data.jsonl.path=/no/such.jsonl", "stages=[data]"),
        "/no/such.jsonl",
        found="ok",
    ),
    Case(
        "jsonl-is-a-directory", ("data=[jsonl]", "data.jsonl.path={tmp}", "stages=[data]"), "data.jsonl.path"
    ),
    Case("jsonl-empty", J, "data.jsonl.path", setup=_empty_file, found="wrong"),
    Case("jsonl-binary", J, "data.jsonl.path", setup=_binary_file, found="wrong"),
    Case("jsonl-csv-text", J, "data.jsonl.path", setup=_text_file),
    Case("jsonl-not-objects", J, "data.jsonl.path", setup=_not_objects),
    Case("jsonl-no-answer", J, "data.jsonl.columns.answer", setup=_no_answer, found="ok"),
    Case(
        "jsonl-bad-column-map",
        (*J, "+data.jsonl.columns.answer=solutoin"),
        "data.jsonl.columns.answer",
        setup=jsonl_dataset(),
    ),
    Case(
        "jsonl-answer_type",
        (*J, "data.jsonl.answer_type=number"),
        "data.jsonl.answer_type",
        setup=jsonl_dataset(),
    ),
    Case("jsonl-all-bad-json", J, "holds no JSON object", setup=_bad_json_only),
    Case(
        "parquet-not-parquet",
        ("data=[parquet]", "data.parquet.path={tmp}/data.jsonl", "stages=[data]"),
        "data.parquet.path",
        setup=jsonl_dataset(),
    ),
    Case("hf-local-missing", ("data=[hf]", "data.hf.path=/no/such/dataset", "stages=[data]"), "data.hf.path"),
    # images and text the model cannot take, at the data stage (skipped and counted, or converted)
    Case(
        "image-16bit-grey",
        J,
        None,
        setup=jsonl_dataset(g16=_png16),
        check=expect_grey("g16"),
        found="silent",
    ),
    Case(
        "image-16bit-rgb",
        J,
        None,
        setup=jsonl_dataset(rgb16=_png16_rgb),
        check=expect_grey("rgb16"),
    ),
    Case(
        "image-32bit-int",
        J,
        None,
        setup=jsonl_dataset(i32=_mode("I", 32768)),
        check=expect_grey("i32"),
    ),
    Case(
        "image-float",
        J,
        None,
        setup=jsonl_dataset(f32=_mode("F", 0.5)),
        check=expect_grey("f32"),
    ),
    Case("image-palette", J, None, setup=jsonl_dataset(pal=_palette), check=expect_grey("pal")),
    Case(
        "image-cmyk",
        J,
        None,
        setup=jsonl_dataset(cmyk=_mode("CMYK", (0, 0, 0, 127))),
        check=expect_grey("cmyk"),
    ),
    Case(
        "image-la",
        J,
        None,
        setup=jsonl_dataset(la=_mode("LA", (128, 255))),
        check=expect_grey("la"),
    ),
    Case(
        "image-wide",
        J,
        None,
        setup=jsonl_dataset(wide=_wide),
        check=expect_skipped("wide", "image_aspect_ratio"),
        found="traceback",
    ),
    Case(
        "image-tall",
        J,
        None,
        setup=jsonl_dataset(tall=_tall),
        check=expect_skipped("tall", "image_aspect_ratio"),
    ),
    Case(
        "image-huge",
        J,
        None,
        setup=jsonl_dataset(huge=_huge),
        check=expect_skipped("huge", "image_too_large"),
    ),
    Case(
        "image-corrupt",
        J,
        None,
        setup=jsonl_dataset(bad=_corrupt),
        check=expect_skipped("bad", "unreadable_image"),
        found="ok",
    ),
    Case(
        "image-truncated",
        J,
        None,
        setup=jsonl_dataset(cut=_truncated),
        check=expect_skipped("cut", "unreadable_image"),
        found="ok",
    ),
    Case("text-not-utf8", J, None, setup=_non_utf8, check=_check_non_utf8, found="silent"),
    # the model
    Case("model-vocab-10", ("model.vocab_size=10",), "model.vocab_size=10", found="traceback"),
    Case("model-heads", ("model.hidden_size=130",), "model.hidden_size=130"),
    Case("model-layers-0", ("model.num_hidden_layers=0",), "model.num_hidden_layers=0"),
    Case("model-pixels", ("model.min_pixels=20000", "model.max_pixels=100"), "model.min_pixels=20000"),
    Case("model-dtype", ("model.dtype=float8",), "model.dtype='float8'"),
    Case(
        "model-attn",
        ("model.attn_implementation=flash_attention_2",),
        "model.attn_implementation=flash_attention_2",
    ),
    Case("model-lora-r-0", ("model.lora={r: 0}",), "model.lora.r=0"),
    Case(
        "model-path-missing",
        ("model=qwen2_5_vl_7b", "model.attn_implementation=sdpa", "model.path=/no/such/ckpt"),
        "model.path=/no/such/ckpt",
    ),
    Case(
        "model-hub-offline",
        ("model=qwen2_5_vl_7b", "model.attn_implementation=sdpa", "model.path=vrl-test/no-such-model"),
        "model.path=vrl-test/no-such-model",
        found="traceback",
    ),
    Case(
        "model-given-missing",
        ("stages=[eval]", "products.model=/no/such/dir"),
        "products.model=/no/such/dir",
        found="ok",
    ),
    Case("model-given-file", ("stages=[eval]", "products.model={tmp}/afile"), "products.model=", setup=_file),
    Case(
        "model-given-empty-dir",
        ("stages=[eval]", "products.model={tmp}/empty"),
        "no config.json",
        setup=_empty_dir,
    ),
    Case(
        "model-corrupt-safetensors",
        EVAL_GIVEN,
        "model.safetensors",
        setup=_corrupt_safetensors,
        found="traceback",
    ),
    Case("model-truncated-safetensors", EVAL_GIVEN, "model.safetensors", setup=_truncated_safetensors),
    Case("model-no-weights", EVAL_GIVEN, "no weights", setup=_no_weights),
    Case("model-bad-config-json", EVAL_GIVEN, "config.json", setup=_bad_config_json),
    # products given from outside
    Case(
        "products-train-missing",
        ("stages=[sft]", "products.train_data=/no/such/data"),
        "products.train_data=/no/such/data",
    ),
    Case(
        "products-train-not-dataset",
        ("stages=[sft]", "products.train_data={tmp}/plain"),
        "products.train_data=",
        setup=_not_a_dataset,
    ),
    Case(
        "products-train-wrong-schema",
        ("stages=[sft]", "products.train_data={tmp}/ds"),
        "products.train_data=",
        setup=_wrong_schema_dataset,
    ),
    Case("products-unknown-key", ("stages=[eval]", "+products.modle=/tmp"), "products.modle"),
    # stages and their order
    Case("stages-string", ("stages=sft",), "stages=", found="wrong"),
    Case("stages-empty", ("stages=[]",), "stages="),
    Case("stages-duplicate", ("stages=[data,data,sft]",), "'data' twice"),
    Case("stages-unknown", ("stages=[data,train]",), "stages lists 'train'", found="ok"),
    Case("stages-eval-before-sft", ("stages=[data,eval,sft]",), "put 'sft' before 'eval'", found="silent"),
    Case("stages-sft-before-data", ("stages=[sft,data]",), "reorder `stages`"),
    Case("stages-rl-alone", ("stages=[rl]",), "needs product 'train_data'"),
    Case("stages-flywheel-no-sandbox", ("stages=[flywheel]", "flywheel=procedural"), "sandbox=local"),
    Case(
        "flywheel-rounds-0",
        ("stages=[flywheel]", "flywheel=procedural", "sandbox=local", "stage.flywheel.rounds=0"),
        "stage.flywheel.rounds=0",
    ),
    # top-level keys and values
    Case("plus-unknown-top", ("+foo=1",), "'foo'", found="silent"),
    Case("plus-unknown-typo", ("+sed=3",), "'sed'"),
    Case("plus-unknown-paths", ("+paths.outptu_dir=/tmp",), "paths.outptu_dir"),
    Case("plus-unknown-stage-key", ("+stage.sft.learning_rate=1",), "stage.sft.learning_rate"),
    Case("plus-unknown-nested", ("+model.foo=1",), "model.foo"),
    Case(
        "unknown-key",
        ("stage.sft.learning_rat=1",),
        "unknown config key 'stage.sft.learning_rat'",
        found="ok",
    ),
    Case("seed-word", ("seed=abc",), "seed='abc'", found="traceback"),
    Case("seed-float", ("seed=1.5",), "seed=1.5"),
    Case("seed-neg", ("seed=-1",), "seed=-1"),
    Case("seed-huge", ("seed=99999999999",), "seed=99999999999"),
    Case("seed-null", ("seed=null",), "seed=None"),
    Case("name-empty", ("name=''",), "name=''"),
    Case("objective-not-metric", ("objective=[a]",), "objective="),
    # the run directory
    Case(
        "rundir-is-file",
        (),
        "run directory",
        setup=_file,
        lane="cli",
        found="traceback",
        base=(*BASE, "hydra.run.dir={tmp}/afile"),
    ),
    Case(
        "rundir-under-file",
        (),
        "run directory",
        setup=_file,
        lane="cli",
        found="traceback",
        base=(*BASE, "hydra.run.dir={tmp}/afile/run"),
    ),
    Case("rundir-unwritable", ("paths.run_dir=/proc/vrl-run",), "run directory", found="traceback"),
    Case("paths-run_dir-file", ("paths.run_dir={tmp}/afile",), "run directory", setup=_file),
    Case("done-corrupt", ("stages=[data,sft]",), "DONE.json", setup=_corrupt_done),
    Case("done-product-gone", ("stages=[data,sft]",), "train_data", setup=_done_product_gone),
    Case(
        "copied-run-dir",
        ("stages=[data,sft]",),
        None,
        setup=_copied_run,
        check=_check_copied_run,
        lane="slow",
        found="silent",
    ),
    # hardware and optional packages
    Case("rollout-vllm-missing", ("rollout=vllm",), "vllm", found="traceback", unless="vllm"),
    Case("rollout-batch-0", ("rollout.batch_size=0",), "rollout.batch_size=0"),
    Case("trainer-gpu-no-gpu", ("trainer=gpu",), "trainer", found="traceback", unless="cuda"),
    Case("trainer-fsdp-no-gpu", ("trainer=fsdp",), "trainer", unless="cuda"),
    Case("trainer-devices-0", ("trainer.devices=0",), "trainer.devices=0"),
    Case("trainer-precision", ("trainer.precision=fp8",), "trainer.precision='fp8'"),
    Case("trainer-strategy", ("trainer.strategy=ddpp",), "trainer.strategy='ddpp'"),
    Case("trainer-accelerator", ("trainer.accelerator=tpu",), "trainer.accelerator=tpu"),
    Case("trainer-num_nodes-0", ("trainer.num_nodes=0",), "trainer.num_nodes=0"),
    Case("tool-code-no-sandbox", ("tool=code",), "sandbox=local"),
    Case("tool-max_turns-0", ("tool=zoom", "rollout.tool_loop.max_turns=0"), "rollout.tool_loop.max_turns=0"),
    Case("rethink-with-tool", ("rethink=forced", "tool=zoom"), "rethink=forced"),
    # reward and algorithm
    Case("reward-none-rl", ("reward=none",), "reward"),
    Case("algorithm-none-rl", ("algorithm=none",), "algorithm"),
    Case("reward-workers-neg", ("reward.pool.num_workers=-1",), "reward.pool.num_workers=-1"),
    Case("reward-timeout-0", ("reward.pool.timeout_s=0",), "reward.pool.timeout_s=0"),
    Case("reward-chunk-0", ("reward.pool.chunk_size=0",), "reward.pool.chunk_size=0"),
    Case("reward-context-fork", ("reward.pool.context=fork",), "reward.pool.context='fork'"),
    Case("reward-threshold", ("reward.pool.max_failure_frac=2",), "reward.pool.max_failure_frac=2"),
    Case("reward-weight-unknown", ("+reward.weights.acuracy=1",), "reward.weights"),
    Case("algorithm-ppo_epochs-0", ("algorithm.ppo_epochs=0",), "algorithm.ppo_epochs=0"),
    Case("algorithm-kl-neg", ("algorithm.kl_coef=-1",), "algorithm.kl_coef=-1"),
    Case("algorithm-kl-unknown", ("algorithm.kl_estimator=k4",), "algorithm.kl_estimator='k4'"),
    Case("replay-fraction", ("replay.output_fraction=2",), "replay.output_fraction=2"),
    # more of the same kind, found while writing these
    Case("tags-string", ("tags=tiny",), "tags='tiny'"),
    Case("cues-string", ("rethink_cues=wait",), "rethink_cues='wait'"),
    Case("stage-plus-untargeted", ("+stage.extra=1",), "stage.extra has no _target_"),
    Case(
        "reward-functions-empty",
        ("~reward.functions.accuracy", "~reward.weights.accuracy"),
        "reward.functions is empty",
    ),
    Case("rethink-prob", ("rethink=forced", "rethink.skip_prob=2"), "rethink.skip_prob=2"),
    Case("model-lora-unknown-key", ("model.lora={rank: 8}",), "model.lora has unknown key"),
    Case("data-weight-zero", ("data.procedural.weight=0", "stages=[data]"), "every source has weight 0"),
    Case(
        "jsonl-image_root-missing",
        (*J, "data.jsonl.image_root=/no/such/images"),
        "data.jsonl.image_root",
        setup=jsonl_dataset(),
    ),
    Case("eval-limit-float", ("stage.eval.limit=1.5",), "'stage.eval.limit' should be int"),
    Case(
        "benchmark-limit-neg",
        ("benchmark=[mathvista]", "benchmark.mathvista.limit=-1", "stages=[eval]"),
        "benchmark.mathvista.limit=-1",
    ),
    Case(
        "model-given-bad-index",
        EVAL_GIVEN,
        "model.safetensors.index.json",
        setup=lambda tmp: (
            _model_dir(tmp, weights=None)
            or (tmp / "model" / "model.safetensors.index.json").write_text(
                '{"weight_map": {"w": "model-00001-of-00002.safetensors"}}'
            )
        ),
    ),
    Case(
        "hf-hub-offline",
        ("data=[hf]", "data.hf.path=vrl-test/no-such-dataset", "stages=[data]"),
        "data.hf.path",
        lane="slow",  # datasets retries the hub for ~30 s before it gives up
    ),
    Case(
        "benchmark-hub-offline",
        (
            "benchmark=[mathvista]",
            "benchmark.mathvista.path=vrl-test/no-such-benchmark",
            "stages=[data,sft,eval]",
        ),
        "benchmark.mathvista.path=vrl-test/no-such-benchmark",
    ),
    Case(
        "sft-max_length-below-prompt",
        ("stages=[data,sft]", "stage.sft.max_length=8"),
        "stage.sft.max_length=8 leaves no response token",
        during=("data", "sft"),  # known once the data is tokenised
        lane="slow",
        found="silent",
    ),
    Case(
        "eval-ctrl-c",
        ("stages=[eval]", "stage.eval.limit=64", "rollout.batch_size=4"),
        "stopped by SIGINT",
        check=_check_interrupted_eval,
        interrupt="eval/*/items.jsonl",
        during=("eval",),
        found="traceback",
    ),
    Case(  # a rerun into a run dir with other settings stops, naming the key (vrl.invocation)
        "rerun-other-settings",
        ("stages=[data]", "stage.data.train_size=40"),
        "stage.data.train_size (48 -> 40)",
        setup=_finished_data,
        check=_check_record_kept,
        found="silent",
    ),
    Case(  # ... and with accept_changes=true runs on, the finished stage skipped and its record kept
        "rerun-other-settings-accepted",
        ("stages=[data]", "stage.data.train_size=40", "accept_changes=true"),
        None,
        setup=_finished_data,
        check=_check_record_kept,
        found="silent",
    ),
    Case(
        "eval-cache-other-model",
        ("stages=[eval]", "stage.eval.limit=4", "model.seed=1", "accept_changes=true"),
        None,
        setup=_eval_with_model_a,
        check=_check_model_b_scored_again,
        found="silent",
    ),
    Case(
        "reward-nan-always",
        (
            "stages=[data,rl]",
            "reward.functions.accuracy._target_=bad_rewards.nan_reward",
            "reward.pool.num_workers=0",
        ),
        "reward 'accuracy'",
        during=("data", "rl"),  # known when the reward is first called
        lane="slow",
        found="silent",
    ),
    Case(
        "reward-raises-always",
        (
            "stages=[data,rl]",
            "reward.functions.accuracy._target_=bad_rewards.failing_reward",
            "reward.pool.num_workers=0",
        ),
        "reward 'accuracy'",
        during=("data", "rl"),  # known when the reward is first called
        lane="slow",
        found="silent",
    ),
]


def census(
    cases: list[Case], root: Path, cli: bool = True, markdown: Path | None = None
) -> dict[str, list[str]]:
    """Run every case through the entry point; print one line per case and the totals (by
    verdict, and by verdict against what the issue found); write them as markdown if asked."""
    results: dict[str, list[str]] = {}
    rows = []
    for case in cases:
        tmp = root / case.id
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            outcome = run_case(case, tmp, cli=cli)
            kind = verdict(case, outcome, tmp)
        except Exception as error:  # noqa: BLE001 - a broken setup is reported, not fatal
            outcome, kind = Outcome("traceback", str(error)), "traceback"
        results.setdefault(kind, []).append(case.id)
        detail = outcome.message or (outcome.output.strip().splitlines() or [""])[-1]
        rows.append((case, kind, outcome.seconds, detail))
        print(f"{kind:9s} {outcome.seconds:6.1f}s {case.id:32s} {detail[:150]}", flush=True)
    totals = {kind: len(ids) for kind, ids in sorted(results.items())}
    print(totals, f"of {len(cases)} cases", flush=True)
    by_found: dict[str, dict[str, int]] = {}
    for case, kind, _, _ in rows:
        by_found.setdefault(case.found, {}).setdefault(kind, 0)
        by_found[case.found][kind] += 1
    for found, kinds in sorted(by_found.items()):
        print(f"  issue found {found!r}: now {kinds}", flush=True)
    if markdown is not None:
        lines = [
            f"{len(cases)} cases: " + ", ".join(f"{n} {kind}" for kind, n in totals.items()),
            "",
            "| issue found | now | " + " | ".join(sorted({k for _, k, _, _ in rows})) + " |",
            "|---|---|" + "---|" * len({k for _, k, _, _ in rows}),
        ]
        kinds_all = sorted({k for _, k, _, _ in rows})
        for found, kinds in sorted(by_found.items()):
            lines.append(
                f"| {found} | {sum(kinds.values())} | "
                + " | ".join(str(kinds.get(k, 0)) for k in kinds_all)
                + " |"
            )
        lines += ["", "| case | issue found | verdict | s | message |", "|---|---|---|---|---|"]
        for case, kind, seconds, detail in rows:
            text = detail.replace("|", "\\|")[:200]
            lines.append(f"| {case.id} | {case.found} | {kind} | {seconds:.1f} | {text} |")
        markdown.write_text("\n".join(lines) + "\n")
    return results


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="case ids (default: all)")
    parser.add_argument(
        "--composed", action="store_true", help="compose in process instead of the entry point"
    )
    parser.add_argument("--markdown", type=Path, help="also write the census as a markdown table here")
    options = parser.parse_args()
    chosen = [c for c in CASES if not options.ids or c.id in options.ids]
    with tempfile.TemporaryDirectory(prefix="vrl-bad-input-") as scratch:
        census(chosen, Path(scratch), cli=not options.composed, markdown=options.markdown)
