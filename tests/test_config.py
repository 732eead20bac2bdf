"""Every experiment and sweep composes, leaves no `???`, and every `_target_` accepts its keys."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from vrl_testing import CONF_DIR, compose

from vrl.config_check import check_run_keys, check_targets, target_nodes
from vrl.errors import ConfigError

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
SWEEPS = sorted(p.stem for p in (CONF_DIR / "sweeps").glob("*.yaml"))


def _missing_keys(cfg) -> set[str]:
    """`???` values outside `hydra` (whose interpolations only resolve inside a running app)."""
    job = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"])
    return set(OmegaConf.missing_keys(job))


def test_default_composes_with_every_group():
    cfg = compose()
    for group in ("model", "data", "rollout", "benchmark", "trainer", "logger", "paths", "stage"):
        assert group in cfg, group
    assert list(cfg.stages) == ["data", "sft", "rl", "eval"]
    assert not _missing_keys(cfg)
    assert check_targets(cfg) >= 8


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_targets_accept_keys(experiment):
    cfg = compose([f"+experiment={experiment}"])
    assert not _missing_keys(cfg), _missing_keys(cfg)
    assert check_targets(cfg) > 0
    check_run_keys(cfg)  # no key that nothing reads, seed/name/tags/stages well formed
    for stage in cfg.stages:
        assert stage in cfg.stage, f"{experiment}: stage {stage} not configured"


@pytest.mark.parametrize("sweep", SWEEPS)
def test_sweep_composes(sweep):
    cfg = compose([f"+sweeps={sweep}"], return_hydra_config=True)
    assert (
        cfg.hydra.mode.name == "MULTIRUN" if hasattr(cfg.hydra.mode, "name") else cfg.hydra.mode == "MULTIRUN"
    )
    assert cfg.hydra.sweeper.params, "a sweep overlay must set hydra.sweeper.params"
    assert not _missing_keys(cfg)
    check_targets(cfg)
    check_run_keys(cfg)


@pytest.mark.parametrize("launcher", sorted(p.stem for p in (CONF_DIR / "hydra" / "launcher").glob("*.yaml")))
def test_cluster_launcher_profiles_extend_submitit(launcher):
    from hydra._internal.utils import _locate

    cfg = compose([f"hydra/launcher={launcher}"], return_hydra_config=True)
    bases = [f"{c.__module__}.{c.__name__}" for c in _locate(cfg.hydra.launcher._target_).__mro__]
    # vrl's checks on submitit's launcher (compared by name: Hydra's plugin scan imports it anew)
    assert "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in bases, bases


@pytest.mark.parametrize(
    "group",
    sorted(
        p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in ("hydra", "experiment", "sweeps")
    ),
)
def test_every_option_of_every_group_composes(group):
    """Each option file on its own: composes into the default and passes the target check."""
    for option in sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")):
        if group == "stage":
            overrides = [f"+stage@stage.extra_{option}={option}"]
        elif group in ("data", "benchmark"):
            overrides = [f"{group}=[{option}]"]
        else:
            overrides = [f"{group}={option}"]
        cfg = compose(overrides)
        for key, node in target_nodes(cfg):
            assert node._target_.startswith("vrl."), f"{group}/{option}: {key} targets {node._target_}"
        check_targets(cfg)
        check_run_keys(cfg)


def test_check_targets_names_the_misspelt_key():
    cfg = compose(["+stage.sft.learning_rate=0.1"])
    with pytest.raises(
        ConfigError, match=r"'stage.sft.learning_rate' is not a parameter of vrl.sft.settings.SFTSettings"
    ):
        check_targets(cfg)


def test_check_targets_names_the_mistyped_key():
    cfg = compose(["stage.sft.max_steps=many"])
    with pytest.raises(ConfigError, match=r"'stage.sft.max_steps' should be int, got 'many'"):
        check_targets(cfg)


def test_every_config_key_has_a_comment():
    """STYLE: each key of an option file explains itself (a trailing or preceding comment)."""
    undocumented = []
    for path in CONF_DIR.rglob("*.yaml"):
        if path.parent.name in ("experiment", "sweeps"):  # overrides only; their header says what they are
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped or line.startswith(" "):
                continue
            if stripped.split(":")[0] in ("defaults", "_target_", "hydra", "_partial_"):
                continue
            previous = lines[i - 1].strip() if i else ""
            if "#" not in line and not previous.startswith("#") and not stripped.endswith(":"):
                undocumented.append(f"{path.relative_to(CONF_DIR)}:{i + 1}: {stripped}")
    assert not undocumented, "\n".join(undocumented)
