"""Check every `_target_` node of a composed config against its constructor, before building.

torchtune-style: a misspelt key or a value of the wrong type is reported as one line naming
the config key, instead of a TypeError deep inside a constructor twenty minutes into a run.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from vrl.errors import ConfigError

_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


def target_nodes(cfg: Any, prefix: str = "") -> Iterator[tuple[str, DictConfig]]:
    """Yield (dotted key, node) for every dict node with a `_target_`, outermost first."""
    if isinstance(cfg, DictConfig):
        if "_target_" in cfg:
            yield prefix, cfg
        for key in cfg.keys():
            if prefix == "" and key == "hydra":
                continue
            child = cfg._get_node(key)
            if isinstance(child, (DictConfig, ListConfig)):
                yield from target_nodes(child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(cfg, ListConfig):
        for i, child in enumerate(cfg):
            if isinstance(child, (DictConfig, ListConfig)):
                yield from target_nodes(child, f"{prefix}[{i}]")


def check_targets(cfg: DictConfig) -> int:
    """Validate every `_target_` node; return how many were checked. Raises ConfigError."""
    checked = 0
    for key, node in target_nodes(cfg):
        check_node(key, node)
        checked += 1
    return checked


def check_node(key: str, node: DictConfig) -> None:
    """Keys must be constructor parameters and plain values must match their annotations."""
    where = key or "<root>"
    target = node["_target_"]
    try:
        obj = get_object(target)
    except Exception as error:  # noqa: BLE001 - any import failure is a config error here
        raise ConfigError(f"'{where}._target_': cannot import '{target}' ({error})") from error
    params = _parameters(obj)
    if params is None:
        return
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    hints = _type_hints(obj)
    for name in node.keys():
        if name in _HYDRA_KEYS:
            continue
        if name not in params:
            if accepts_any:
                continue
            valid = ", ".join(p for p in params if p not in ("self", "args", "kwargs"))
            raise ConfigError(
                f"'{where}.{name}' is not a parameter of {target} (accepts: {valid}); "
                "remove it or fix the spelling"
            )
        value_node = node._get_node(name)
        if value_node is None or OmegaConf.is_missing(node, name) or _is_interpolation(node, name):
            continue
        value = (
            OmegaConf.to_container(value_node, resolve=False)
            if isinstance(value_node, (DictConfig, ListConfig))
            else value_node._value()
        )
        expected = hints.get(name)
        if expected is None or _is_nested_target(value):
            continue
        if not _matches(value, expected):
            raise ConfigError(
                f"'{where}.{name}' should be {_describe(expected)}, got {value!r} "
                f"({type(value).__name__}); fix: {where}.{name}=<{_describe(expected)}>"
            )
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n != "self"
        and n not in node.keys()  # `in node` is False for a `???` value, which is present
    ]
    if missing and not node.get("_partial_", False):
        raise ConfigError(f"'{where}' ({target}) needs {', '.join(missing)}: add them to its config")


def _parameters(obj: Any) -> dict[str, inspect.Parameter] | None:
    try:
        return dict(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return None


def _type_hints(obj: Any) -> dict[str, Any]:
    fn = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable hints: skip type checks, keep key checks
        return {}


def _is_interpolation(node: DictConfig, name: str) -> bool:
    return OmegaConf.is_interpolation(node, name)


def _is_nested_target(value: Any) -> bool:
    return isinstance(value, Mapping) and "_target_" in value


def _matches(value: Any, expected: Any) -> bool:
    if expected is Any or expected is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    if origin is Literal:
        return value in typing.get_args(expected)
    if expected is type(None):
        return value is None
    if origin in (list, tuple, Sequence, set):
        return isinstance(value, (list, tuple))
    if origin in (dict, Mapping):
        return isinstance(value, Mapping)
    if origin is not None:
        return True
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    if expected is Path:
        return isinstance(value, str)
    if expected in (list, tuple):
        return isinstance(value, (list, tuple))
    if expected is dict:
        return isinstance(value, Mapping)
    return True  # a class: built from a nested node or passed in at runtime


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(expected))
    if origin is Literal:
        return "one of " + "/".join(map(str, typing.get_args(expected)))
    if expected is type(None):
        return "null"
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(expected, "__name__", str(expected))
