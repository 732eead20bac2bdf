"""The SLURM launcher profiles fit the trainer, and a sweep that would not stops before submitting."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError
from vrl_testing import compose

from vrl.cli_errors import one_line_error
from vrl.errors import ConfigError
from vrl.launcher import check_fit, check_partition


def _launcher_and_trainer(overrides: list[str]):
    cfg = compose(overrides, return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    return params, cfg.trainer, cfg


@pytest.mark.parametrize(
    ("profile", "trainer", "tasks", "nodes"),
    [
        ("slurm_cpu", "cpu", 1, 1),
        ("slurm_cpu", "ddp_cpu", 2, 1),
        ("slurm_gpu", "gpu", 8, 1),
        ("slurm_gpu", "fsdp", 8, 1),
        ("slurm_gpu_multinode", "fsdp", 8, 4),
    ],
)
def test_profiles_start_one_task_per_training_process(profile, trainer, tasks, nodes):
    extra = ["trainer.num_nodes=4"] if nodes == 4 else []
    params, trainer_cfg, cfg = _launcher_and_trainer(
        [f"hydra/launcher={profile}", f"trainer={trainer}", *extra]
    )
    assert params["_target_"] == "hydra_plugins.vrl_launcher.SlurmLauncher"
    assert (params["tasks_per_node"], params["nodes"]) == (tasks, nodes)
    check_fit(params, trainer_cfg)  # no error
    # Preemption: submitit's USR2 comes signal_delay_s before the limit; time-outs are requeued.
    assert params["max_num_timeout"] >= 1 and 60 <= params["signal_delay_s"] < params["timeout_min"] * 60
    assert cfg.hydra.job.name == cfg.name, "job names and logs carry the run's name"


def test_gpu_profile_with_a_cpu_trainer_stops_with_one_line():
    params, trainer, _ = _launcher_and_trainer(["hydra/launcher=slurm_gpu", "trainer=cpu"])
    with pytest.raises(ConfigError) as error:
        check_fit(params, trainer)
    message = str(error.value)
    assert "\n" not in message and "trainer=gpu" in message and "slurm_cpu" in message


def test_gpu_trainer_on_the_cpu_profile_stops_with_one_line():
    # (tasks_per_node follows trainer.devices, which is `auto` for the GPU trainer: set it)
    params, trainer, _ = _launcher_and_trainer(
        ["hydra/launcher=slurm_cpu", "trainer=gpu", "hydra.launcher.tasks_per_node=1"]
    )
    with pytest.raises(ConfigError, match="slurm_gpu"):
        check_fit(params, trainer)


def test_an_auto_device_count_on_the_cpu_profile_is_one_line_naming_the_fix():
    cfg = compose(["hydra/launcher=slurm_cpu", "trainer=gpu"], return_hydra_config=True)
    with pytest.raises(InterpolationResolutionError) as error:
        OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    message = one_line_error(error.value, conf_dir="")
    assert message.startswith("cannot resolve 'hydra.launcher.tasks_per_node'") and "\n" not in message
    assert "hydra/launcher=slurm_gpu" in message and "trainer.devices=" in message


def test_task_count_that_differs_from_the_trainer_names_both_keys():
    params, trainer, _ = _launcher_and_trainer(
        ["hydra/launcher=slurm_cpu", "trainer=ddp_cpu", "hydra.launcher.tasks_per_node=1"]
    )
    with pytest.raises(ConfigError, match="tasks_per_node=1.*trainer.devices=2"):
        check_fit(params, trainer)


def test_nodes_that_differ_from_the_trainer_stop(monkeypatch):
    params, trainer, _ = _launcher_and_trainer(["hydra/launcher=slurm_gpu_multinode", "trainer=fsdp"])
    with pytest.raises(ConfigError, match="nodes=4 but trainer.num_nodes=1"):
        check_fit(params, trainer)


def _sinfo(monkeypatch, lines: str) -> None:
    import subprocess

    import vrl.launcher as launcher

    monkeypatch.setattr(launcher.shutil, "which", lambda name: "/usr/bin/sinfo")
    monkeypatch.setattr(
        launcher.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=lines, stderr=""),
    )


def test_gpu_profile_on_a_partition_without_gpus_stops_with_one_line(monkeypatch):
    _sinfo(monkeypatch, "cpu* (null)\nurgent (null)\n")
    with pytest.raises(ConfigError) as error:
        check_partition({"partition": "cpu", "gpus_per_node": 8})
    assert "\n" not in str(error.value) and "has none" in str(error.value)
    with pytest.raises(ConfigError, match="not a partition"):
        check_partition({"partition": "gpu", "gpus_per_node": 8})
    check_partition({"partition": None, "gpus_per_node": None})  # the default partition, no GPUs: fine
    _sinfo(monkeypatch, "cpu* (null)\ngpu gpu:h100:8\n")
    check_partition({"partition": "gpu", "gpus_per_node": 8})
