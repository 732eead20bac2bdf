"""The SLURM cluster the `slurm` tests submit to: scripts/slurm/up.sh's one-node cluster (or any
SLURM whose `SLURM_CONF` is set). Without a controller that answers they skip, or fail when
`VRL_REQUIRE_SLURM=1` (CI starts the cluster and sets that)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from vrl_testing import REPO


def _state_dir() -> Path:
    return Path(os.environ.get("VRL_SLURM_DIR", "/tmp/vrl-slurm"))


@pytest.fixture(scope="session")
def slurm_env() -> dict[str, str]:
    """The environment for sbatch/submitit: SLURM_CONF, the `sacct` stand-in first on PATH,
    PYTHONPATH on this checkout (SLURM jobs inherit the submitter's environment)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    env.pop("WANDB_API_KEY", None)
    state = _state_dir()
    if "SLURM_CONF" not in env and (state / "slurm.conf").exists():
        env["SLURM_CONF"] = str(state / "slurm.conf")
    if (state / "bin" / "sacct").exists():
        env["PATH"] = f"{state / 'bin'}:{env['PATH']}"
    try:
        ping = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=20)
        answer = (ping.stdout + ping.stderr).strip().splitlines()[-1:]  # the last line says why
        answer = answer[0] if answer else ""
        up = ping.returncode == 0 and "UP" in ping.stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        answer, up = str(error), False
    if not up:
        message = f"no SLURM controller answers ({answer or 'no output'}): start one with `make slurm-up`"
        if os.environ.get("VRL_REQUIRE_SLURM") == "1":
            pytest.fail(f"VRL_REQUIRE_SLURM=1 but {message}")
        pytest.skip(message)
    return env
