"""Test helpers: the config root, Hydra compose, and running `python -m vrl` for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "vrl" / "conf"


def compose(overrides: list[str] | None = None, return_hydra_config: bool = False):
    """The config `python -m vrl <overrides>` would run, via Hydra's Compose API."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from vrl.defaults import register

    register()
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


def option_node(group: str, option: str):
    """One option file (vrl/conf/<group>/<option>.yaml) as Hydra composes it: the typed
    defaults its `/settings@<key>: <name>` entries pull in, then the file's own values."""
    from omegaconf import OmegaConf

    from vrl.defaults import TYPED, defaults_of

    raw = OmegaConf.load(CONF_DIR / group / f"{option}.yaml")
    node = OmegaConf.create({})
    for entry in raw.pop("defaults", []):
        if entry == "_self_":
            continue
        [(where, name)] = entry.items()
        key = where.split("@", 1)[1]
        typed = OmegaConf.create(defaults_of(TYPED[name]))
        node = OmegaConf.merge(node, typed if key == "_here_" else {key: typed})
    # Interpolations such as ${rethink_cues} or ${seed} resolve against the primary config's own keys.
    primary = OmegaConf.load(CONF_DIR / "config.yaml")
    root = {k: v for k, v in primary.items() if k not in ("defaults", "hydra", "products")}
    return OmegaConf.merge(root, {"option": OmegaConf.merge(node, raw)}).option


def component(group: str, option: str, **overrides):
    """Instantiate one option of `group` with `overrides` merged in."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate(OmegaConf.merge(option_node(group, option), overrides), _convert_="all")


def inline_reward(option: str = "math_verify", **overrides):
    """A reward option whose functions run in the caller (no worker processes)."""
    return component("reward", option, pool={"num_workers": 0}, **overrides)


def brevity(completions, **fields) -> list[float]:
    """A shaping reward for RL tests: a random-init model is never right, so an accuracy reward
    alone gives all-zero advantages and nothing to train on; shorter is better here."""
    return [-len(c) / 100 for c in completions]


def fit_rl(
    module,
    train_dir: Path,
    root: Path,
    ckpt: Path | None = None,
    callbacks=(),
    prompts_per_step: int = 4,
    loader_workers: int | None = None,
):
    """`module` (a `vrl.rl.module.RLModule`) fitted on `train_dir`'s prompts, `prompts_per_step` per step, seed 0:
    CSV metrics under `root/csv/version_0`, an RL checkpoint every step under `root/checkpoints`,
    resumed from `ckpt` if given. Returns the Lightning trainer. `loader_workers`: None = the
    engine encodes its prompts; else the loader does, ahead (as the RL stage sets it up), in that
    many worker processes (0: in the trainer's)."""
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    from vrl.rl.checkpoint import RLCheckpoint
    from vrl.rl.data import RLDataModule

    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=-1,
        max_epochs=-1,
        log_every_n_steps=1,
        logger=CSVLogger(str(root), name="csv", version=0),
        callbacks=[RLCheckpoint(root / "checkpoints", every_n_steps=1), *callbacks],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
    )
    trainer.fit(
        module,
        datamodule=RLDataModule(
            train_dir,
            prompts_per_step,
            seed=0,
            num_workers=loader_workers or 0,
            encode=module.prompt_encoding if loader_workers is not None else None,
        ),
        ckpt_path=str(ckpt) if ckpt else None,
        weights_only=False,
    )
    return trainer


def hf_engine(batch_size: int = 8, engine: str = "hf", **sampling):
    """The `hf` engine (or `engine="fast"`, the hf engine with vrl's own decode loop) sampling
    with `sampling` (a `vrl.policy.sampling.Sampling` field each)."""
    from vrl.policy.sampling import Sampling
    from vrl.rollout.fast import FastRolloutEngine
    from vrl.rollout.hf import HFRolloutEngine

    engine_class = {"hf": HFRolloutEngine, "fast": FastRolloutEngine}[engine]
    return engine_class(batch_size=batch_size, sampling=Sampling(**sampling))


def run_ranks(
    script: Path, args: list[str], size: int, env: dict | None = None, timeout: float = 600
) -> None:
    """Run `python SCRIPT ARGS` as `size` ranks of one gloo job on this host (1: a plain process),
    with the variables `vrl.distributed.spawn_local_ranks` sets, and assert every rank exits 0."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "WANDB_MODE": "disabled", **(env or {})}
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID"):
        base.pop(key, None)
    procs = []
    for rank in range(size):
        rank_env = dict(base)
        if size > 1:
            rank_env.update(
                LOCAL_RANK=str(rank),
                RANK=str(rank),
                WORLD_SIZE=str(size),
                NODE_RANK="0",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
            )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), *args],
                env=rank_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    for rank, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{output[-4000:]}"


def assert_logged_grad_norm_is_the_global_one(one: Path, two: Path, reference: Any) -> None:
    """`train/grad_norm` (mean over the optimizer steps) is the norm of the summed gradient,
    on every rank, as one process logs it; not the ranks' average nor one rank's shard."""
    import pytest

    expected = reference.norm(dim=1).mean().item()  # reference: [steps, params] summed gradients
    logged = [
        json.loads((d / f"metrics_rank{r}.json").read_text())["train/grad_norm"]
        for d, r in ((one, 0), (two, 0), (two, 1))
    ]
    assert logged == pytest.approx([expected] * 3, rel=1e-4), (logged, expected)
