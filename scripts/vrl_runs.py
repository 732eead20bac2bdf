"""What the study scripts share: run `python -m vrl` into a run dir and read back its stages.

A run dir's finished stages leave `<stage>/DONE.json` (metrics, products, seconds), so running
a script again reuses every finished run and only redoes the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run_vrl(run_dir: Path, overrides: list[str]) -> float:
    """One `python -m vrl` process writing to `run_dir`; its wall seconds. Raises if it fails."""
    command = [
        sys.executable,
        "-m",
        "vrl",
        f"hydra.run.dir={run_dir}",
        "trainer.enable_progress_bar=false",
        *overrides,
    ]
    print("$", " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - start


def stage(run_dir: Path, name: str) -> dict:
    """The stage's DONE.json: {"metrics", "products", "seconds", "tables"}."""
    return json.loads((run_dir / name / "DONE.json").read_text())


def eval_metrics(run_dir: Path, benchmark: str) -> dict[str, float]:
    """The eval stage's metrics for `benchmark`, without the `eval/<benchmark>/` prefix."""
    prefix = f"eval/{benchmark}/"
    return {k[len(prefix) :]: v for k, v in stage(run_dir, "eval")["metrics"].items() if k.startswith(prefix)}


def stage_seconds(run_dir: Path) -> dict[str, float]:
    """Seconds of each finished stage, in the run's own stage order (its saved Hydra config)."""
    stages = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["stages"]
    return {
        name: stage(run_dir, name)["seconds"] for name in stages if (run_dir / name / "DONE.json").exists()
    }
