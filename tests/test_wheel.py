"""vrl installs as a package: a wheel in a fresh venv runs `python -m vrl` from any directory (the
config tree ships inside it), and a user's own config directory extends it (`hydra.searchpath`)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from vrl_testing import REPO

pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WANDB_API_KEY")}
    return subprocess.run(
        command,
        cwd=cwd,
        env={**env, "WANDB_MODE": "disabled"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory) -> Path:
    """A fresh venv with vrl installed from its wheel; the dependencies come from this venv's
    site-packages through a path entry (no network), never vrl's own source tree."""
    work = tmp_path_factory.mktemp("wheel")
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work),
            str(REPO),
        ],
        REPO,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = work.glob("vrl-*.whl")
    venv = work / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], work).returncode == 0
    python = venv / "bin" / "python"
    installed = _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], work)
    assert installed.returncode == 0, installed.stderr[-3000:]
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work
        ).stdout.strip()
    )
    (site / "zz_vrl_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_wheel_carries_the_config_tree_and_runs_outside_the_repo(wheel_python, tmp_path):
    where = _run(
        [str(wheel_python), "-c", "import vrl, pathlib; print(pathlib.Path(vrl.__file__).parent)"], tmp_path
    )
    package = Path(where.stdout.strip())
    assert REPO not in package.parents, f"imported vrl from the source tree: {package}"
    assert (package / "conf" / "config.yaml").is_file() and (package / "conf" / "stage" / "rl.yaml").is_file()
    run_dir = tmp_path / "run"
    args = ["debug=smoke", "stages=[eval]", "stage.eval.limit=2", "trainer.enable_progress_bar=false"]
    result = _run([str(wheel_python), "-m", "vrl", *args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "eval" / "procedural_holdout" / "items.jsonl").read_text().count("\n") == 2


def test_a_users_config_directory_extends_the_packaged_tree(wheel_python, tmp_path):
    mine = tmp_path / "my_conf" / "experiment"
    mine.mkdir(parents=True)
    (mine / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /algorithm: grpo\nname: mine\nstage:\n  rl:\n    lr: 3.0e-5\n"
    )
    search = f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]"
    result = _run([str(wheel_python), "-m", "vrl", "+experiment=mine", search, "--cfg", "job"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "name: mine" in result.stdout and "lr: 3.0e-05" in result.stdout
    assert "vrl.algorithm.grpo_advantages" in result.stdout  # the packaged options still compose
