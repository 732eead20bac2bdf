"""Test helpers: the config root, Hydra compose, and running `python -m vrl` for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"


def compose(overrides: list[str] | None = None, return_hydra_config: bool = False):
    """The config `python -m vrl <overrides>` would run, via Hydra's Compose API."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    # `paths.run_dir` defaults to Hydra's runtime output dir, which only exists inside an app.
    overrides = ["paths.run_dir=/tmp/vrl-compose-test", *(overrides or [])]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("config", overrides=overrides, return_hydra_config=return_hydra_config)


def run_vrl(
    args: list[str], cwd: Path, timeout: float = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m vrl ARGS` in a subprocess, offline W&B, and return the completed process."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("WANDB_API_KEY", None)
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "vrl", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
