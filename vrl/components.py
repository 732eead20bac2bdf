"""The run's swappable parts, built once from config in a fixed, logged order."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from vrl.errors import ConfigError

log = logging.getLogger("vrl")

# The order components are built in (and logged); stages come last, in run.py.
BUILD_ORDER = (
    "model",
    "data",
    "flywheel",
    "rollout",
    "sandbox",
    "tool",
    "reward",
    "algorithm",
    "replay",
    "rethink",
    "benchmark",
    "trainer",
    "logger",
)
# Groups whose option is a dict of named components (several selected at once).
NAMED_GROUPS = ("data", "benchmark")


@dataclass
class Components:
    """Instantiated components. `None` means the group is switched off (`<group>: none`)."""

    model: Any = None
    data: dict[str, Any] = field(default_factory=dict)
    flywheel: Any = None
    rollout: Any = None
    sandbox: Any = None
    tool: Any = None
    reward: Any = None
    algorithm: Any = None
    replay: Any = None
    rethink: Any = None
    benchmark: dict[str, Any] = field(default_factory=dict)
    trainer: Any = None
    logger: Any = None


def build_components(cfg: DictConfig) -> Components:
    """Instantiate every group in BUILD_ORDER and log each `_target_`."""
    built: dict[str, Any] = {}
    for group in BUILD_ORDER:
        node = cfg.get(group)
        if group in NAMED_GROUPS:
            built[group] = {name: _build(f"{group}.{name}", sub) for name, sub in (node or {}).items()}
        else:
            built[group] = _build(group, node)
        if group == "tool" and built["tool"] is not None:
            # The tool option is a partial `MultiTurnRollout`: it becomes the rollout engine,
            # wrapping the configured one, so the rl and eval stages use tools unchanged.
            wrapper = built["tool"](engine=built["rollout"], sandbox=built["sandbox"])
            log.info(
                "build %-22s -> %s around %s",
                "rollout",
                type(wrapper).__name__,
                type(built["rollout"]).__name__,
            )
            built["rollout"], built["tool"] = wrapper, wrapper.tool
    return Components(**built)


def _build(key: str, node: Any) -> Any:
    if node is None or (isinstance(node, DictConfig) and len(node) == 0):
        log.info("build %-22s -> (none)", key)
        return None
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(f"'{key}' has no _target_: pick an option, e.g. {key.split('.')[0]}=<option>")
    log.info("build %-22s -> %s", key, node._target_)
    return instantiate(OmegaConf.create(OmegaConf.to_container(node, resolve=True)), _convert_="all")
