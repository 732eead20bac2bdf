"""vrl's SLURM launcher: Hydra's submitit launcher that refuses a sweep the cluster would waste.

`hydra/launcher=slurm_cpu|slurm_gpu|slurm_gpu_multinode` target `hydra_plugins.vrl_launcher.SlurmLauncher`
(Hydra takes launchers only from that package), this `CheckedSlurmLauncher`, which checks,
before anything is submitted, that each job's trainer fits the resources the profile asks for,
and stops with one line saying what to change:

- processes: SLURM starts `tasks_per_node` processes per node and Lightning trains with one per
  task (its `SLURMEnvironment`), so `tasks_per_node` must equal `trainer.devices` and `nodes`
  `trainer.num_nodes` (a mismatch either fails in Lightning or trains twice into one run dir);
- GPUs: a profile that holds GPUs (`gpus_per_node`) needs a GPU trainer, and a GPU trainer needs
  GPUs; the partition must have GPUs at all (`sinfo`'s GRES), where sbatch would fail with a
  48-line traceback.

Job names are the run's `name` (`hydra.job.name: ${name}` in conf/config.yaml). Everything else
is Hydra's `SlurmLauncher`: one job array per sweep, submitit's requeue on USR2, the launcher
waiting for every job's result (a job stopped by a signal writes none: `vrl.interrupt`).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as HydraSlurmLauncher
from omegaconf import DictConfig

from vrl.errors import ConfigError

log = logging.getLogger("vrl")


class CheckedSlurmLauncher(HydraSlurmLauncher):
    """Hydra's submitit SLURM launcher plus the pre-submit checks of the module docstring."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        assert self.config is not None and self.hydra_context is not None
        checked: set[tuple[Any, ...]] = set()
        for overrides in _jobs_to_check(job_overrides):
            job = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            trainer = job.get("trainer")
            key = _trainer_key(trainer)
            if key not in checked:
                check_fit(self.params, trainer, " ".join(overrides))
                checked.add(key)
        check_partition(self.params)
        return super().launch(job_overrides, initial_job_idx)


def _jobs_to_check(job_overrides: Sequence[Sequence[str]]) -> list[Sequence[str]]:
    """The first job, and every job that sets something of the trainer (composing each job of a
    large sweep would take a second apiece)."""
    picked = [job for i, job in enumerate(job_overrides) if i == 0 or any("trainer" in o for o in job)]
    return picked


def _trainer_key(trainer: Any) -> tuple[Any, ...]:
    if not isinstance(trainer, DictConfig):
        return (None,)
    return tuple(str(trainer.get(k)) for k in ("accelerator", "devices", "num_nodes", "strategy"))


def check_fit(params: dict[str, Any], trainer: Any, job: str = "") -> None:
    """Raise ConfigError if the launcher's tasks/nodes/GPUs do not fit the job's trainer."""
    tasks = int(params.get("tasks_per_node") or 1)
    nodes = int(params.get("nodes") or 1)
    gpus = params.get("gpus_per_node") or 0
    where = f" (job: {job})" if job else ""
    if not isinstance(trainer, DictConfig):
        if tasks > 1 or nodes > 1:
            raise ConfigError(
                f"hydra.launcher asks {tasks} tasks x {nodes} nodes but trainer: none trains nothing{where}"
            )
        return
    accelerator = str(trainer.get("accelerator", "cpu"))
    devices = trainer.get("devices", 1)
    on_gpu = accelerator in ("gpu", "cuda")
    if gpus and accelerator == "cpu":
        raise ConfigError(
            f"hydra.launcher holds {gpus} GPUs per node but trainer.accelerator=cpu trains on the CPU{where}: "
            "use a GPU trainer (trainer=gpu or trainer=fsdp), or hydra/launcher=slurm_cpu"
        )
    if on_gpu and not gpus:
        raise ConfigError(
            f"trainer.accelerator={accelerator} needs GPUs but hydra.launcher.gpus_per_node is {gpus or 'unset'}"
            f"{where}: use hydra/launcher=slurm_gpu (or set hydra.launcher.gpus_per_node)"
        )
    per_node = gpus if str(devices) in ("auto", "-1") and on_gpu else devices
    if str(per_node).isdigit() and int(per_node) != tasks:
        raise ConfigError(
            f"hydra.launcher.tasks_per_node={tasks} but the trainer trains with {per_node} processes per node "
            f"(trainer.devices={devices}){where}: Lightning runs one process per SLURM task, so set "
            f"hydra.launcher.tasks_per_node={per_node} or trainer.devices={tasks}"
        )
    num_nodes = int(trainer.get("num_nodes", 1))
    if num_nodes != nodes:
        raise ConfigError(
            f"hydra.launcher.nodes={nodes} but trainer.num_nodes={num_nodes}{where}: make them equal"
        )


def check_partition(params: dict[str, Any]) -> None:
    """Raise ConfigError if the profile asks for GPUs on a partition that has none, or for a
    partition the cluster does not have (skipped where `sinfo` is not installed)."""
    if shutil.which("sinfo") is None:
        return
    out = subprocess.run(["sinfo", "-h", "-o", "%P %G"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        log.warning("sinfo failed (%s): partition not checked", out.stderr.strip())
        return
    gres: dict[str, set[str]] = {}
    default = None
    for line in out.stdout.splitlines():
        name, _, value = line.strip().partition(" ")
        if name.endswith("*"):
            name = default = name[:-1]
        gres.setdefault(name, set()).add(value.strip())
    partition = params.get("partition") or default
    if partition not in gres:
        raise ConfigError(
            f"hydra.launcher.partition={partition} is not a partition of this cluster (partitions: "
            f"{', '.join(sorted(gres))}): set hydra.launcher.partition=<one of them>"
        )
    gpus = params.get("gpus_per_node") or 0
    if gpus and not any("gpu" in g for g in gres[partition]):
        raise ConfigError(
            f"hydra.launcher asks {gpus} GPUs per node but partition {partition!r} has none (GRES: "
            f"{', '.join(sorted(gres[partition]))}): set hydra.launcher.partition=<a GPU partition>, or use "
            "hydra/launcher=slurm_cpu with trainer=cpu"
        )
