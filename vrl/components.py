"""The run's swappable parts, built once from config in a fixed, logged order, and closed once.

Each config group's option instantiates one component by `_target_`. A component that runs
model-written code asks for the run's sandbox by naming `sandbox` as a constructor parameter
(the rollout engine does, for its tool loop); the builder passes it, so no pair of groups
needs wiring code. The run loop owns the components that hold processes or memory (sandbox,
rollout engine, reward pool): `Components.closing()` closes them, in reverse build order, when
the run ends, however it ends.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from vrl.algorithm import Algorithm
from vrl.benchmark.base import Benchmark
from vrl.data.mixture import DataSource
from vrl.errors import ConfigError, VrlError
from vrl.flywheel.flywheel import Flywheel
from vrl.loggers import RunLoggers
from vrl.model.base import VLMSpec
from vrl.replay.base import Replay
from vrl.rethink.base import Rethink
from vrl.reward.base import Reward
from vrl.rollout.base import RolloutEngine
from vrl.sandbox import Sandbox
from vrl.settings import SettingError
from vrl.trainer import TrainerSettings

log = logging.getLogger("vrl")

# The order components are built in (and logged); stages come last, in run.py.
BUILD_ORDER = (
    "model",
    "data",
    "flywheel",
    "sandbox",
    "rollout",
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
# Components another may ask for by naming them as a constructor parameter.
SHARED = ("sandbox",)


@dataclass
class Components:
    """Instantiated components. `None` (or empty) means the group is switched off (`<group>: none`)."""

    model: VLMSpec | None = None
    data: dict[str, DataSource] = field(default_factory=dict)
    flywheel: Flywheel | None = None
    sandbox: Sandbox | None = None
    rollout: RolloutEngine | None = None
    reward: Reward | None = None
    algorithm: Algorithm | None = None
    replay: Replay | None = None
    rethink: Rethink | None = None
    benchmark: dict[str, Benchmark] = field(default_factory=dict)
    trainer: TrainerSettings | None = None
    logger: RunLoggers | None = None

    def close(self) -> None:
        """Close what holds processes or memory, in reverse build order (idempotent)."""
        for resource in (self.reward, self.rollout, self.sandbox):
            if resource is not None:
                resource.close()

    @contextmanager
    def closing(self) -> Iterator[Components]:
        """`with components.closing():` closes them when the block ends, however it ends."""
        try:
            yield self
        finally:
            self.close()


def build_components(cfg: DictConfig) -> Components:
    """Instantiate every group in BUILD_ORDER and log each `_target_`. If one fails, those
    already built are closed before the error goes on."""
    built: dict[str, Any] = {}
    try:
        for group in BUILD_ORDER:
            node = cfg.get(group)
            if group in NAMED_GROUPS:
                built[group] = {name: build(f"{group}.{name}", sub) for name, sub in (node or {}).items()}
            else:
                shared = {name: built[name] for name in SHARED if built.get(name) is not None}
                built[group] = build(group, node, shared)
    except BaseException:
        Components(**built).close()
        raise
    return Components(**built)


def build(key: str, node: Any, shared: dict[str, Any] | None = None) -> Any:
    """Instantiate the node at `key` (None for an empty or null node), passing each of `shared`
    that its target names as a parameter and the config does not set."""
    if node is None or (isinstance(node, DictConfig) and len(node) == 0):
        log.info("build %-22s -> (none)", key)
        return None
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(f"'{key}' has no _target_: pick an option, e.g. {key.split('.')[0]}=<option>")
    params = _parameters(node._target_)
    given = {name: value for name, value in (shared or {}).items() if name in params and name not in node}
    log.info("build %-22s -> %s%s", key, node._target_, f" (with {', '.join(given)})" if given else "")
    try:
        plain = OmegaConf.create(OmegaConf.to_container(node, resolve=True, throw_on_missing=True))
    except MissingMandatoryValue as error:
        missing = error.full_key if error.full_key.startswith(f"{key}.") else f"{key}.{error.full_key}"
        raise ConfigError(f"missing required value '{missing}': set it, e.g. {missing}=<value>") from None
    try:
        return instantiate(plain, _convert_="all", **given)
    except InstantiationException as error:
        cause = _user_error(error)
        if isinstance(cause, SettingError):
            raise cause.at(key) from None
        if cause is not None:
            raise _located(cause, key, params) from None
        raise


def _parameters(target: str) -> set[str]:
    try:
        return set(inspect.signature(get_object(target)).parameters)
    except (TypeError, ValueError, ImportError, AttributeError):
        return set()


def _located(error: VrlError, key: str, params: set[str]) -> VrlError:
    """`error` naming its config key: a message that starts with one of the target's parameters
    (`path: no such file`, `columns.answer: ...`) gets `key.` in front (`data.jsonl.path: ...`)."""
    message = str(error)
    first = re.match(r"([A-Za-z_]\w*)[.:=\s]", message)
    if first is None or first.group(1) not in params:
        return error
    try:
        return type(error)(f"{key}.{message}")
    except TypeError:  # a subclass with another constructor: keep it as it is
        return error


def _user_error(error: BaseException) -> VrlError | None:
    """The `VrlError` a constructor raised (a user's mistake), however deep Hydra wrapped it."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, VrlError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
