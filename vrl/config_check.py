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


# -- the run's own keys ---------------------------------------------------------------------------

CONF_DIR = Path(__file__).resolve().parent / "conf"
SEED_MAX = 2**32 - 1  # numpy's seed range, which Lightning's seed_everything enforces


def check_run_keys(cfg: DictConfig, conf_dir: Path = CONF_DIR) -> None:
    """The keys `run` reads itself (seed, name, tags, stages, objective, rethink_cues, paths),
    and no key that nothing reads: a top-level key added with `+key=...` that is not a config
    group or a key of `config.yaml` (and that no `${...}` interpolation uses) is a typo that
    would otherwise be accepted in silence. Raises a one-line ConfigError."""
    allowed = known_top_level_keys(conf_dir)
    used = _interpolated_keys(cfg)
    for key in cfg.keys():
        if key not in allowed and key != "hydra" and key not in used:
            raise ConfigError(
                f"unknown config key '{key}': vrl reads no such key (top-level keys: "
                f"{', '.join(sorted(allowed))}); fix the spelling or remove +{key}=..."
            )
    paths = cfg.get("paths")
    if isinstance(paths, DictConfig):
        for key in paths.keys():
            if key not in ("output_dir", "run_dir") and f"paths.{key}" not in used:
                raise ConfigError(
                    f"unknown config key 'paths.{key}': paths has output_dir and run_dir; "
                    "fix the spelling or remove it"
                )
    stage_nodes = cfg.get("stage") or {}
    for name in stage_nodes.keys():
        node = stage_nodes._get_node(name)
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ConfigError(
                f"stage.{name} has no _target_: add a stage with stage@stage.{name}=<kind> "
                "(data, flywheel, sft, rl, eval) or remove it"
            )
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"seed={seed!r} must be an integer in [0, {SEED_MAX}]; e.g. seed=0")
    name = cfg.get("name")
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise ConfigError(f"name={name!r} must be a non-empty run name without '/'; e.g. name=my_study")
    for key in ("tags", "rethink_cues"):
        value = cfg.get(key)
        if not isinstance(value, ListConfig) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(
                f"{key}={_plain(value)!r} must be a list of non-empty strings, e.g. {key}=[a,b]"
            )
    objective = cfg.get("objective")
    if objective is not None and not isinstance(objective, str):
        raise ConfigError(
            f"objective={_plain(objective)!r} must be a metric name (e.g. eval/procedural_holdout/accuracy) or null"
        )
    check_stage_list(cfg)


def check_stage_list(cfg: DictConfig) -> list[str]:
    """`stages` is a non-empty list of distinct names, each configured under `stage`."""
    stages = cfg.get("stages")
    available = sorted((cfg.get("stage") or {}).keys())
    example = f"stages=[{','.join(n for n in ('data', 'sft', 'rl', 'eval') if n in available)}]"
    if not isinstance(stages, ListConfig):
        raise ConfigError(f"stages={_plain(stages)!r} must be a list of stage names, e.g. {example}")
    names = list(stages)
    if not names:
        raise ConfigError(f"stages=[] runs nothing: list the stages to run, e.g. {example}")
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"stages lists {name!r}, which is not a stage name; e.g. {example}")
        if names.count(name) > 1:
            raise ConfigError(
                f"stages lists {name!r} twice; a second stage of a kind needs its own key "
                f"(stage@stage.{name}_2={name}) and its own products"
            )
        if name not in available:
            raise ConfigError(
                f"stages lists '{name}' but stage.{name} is not configured (configured: "
                f"{', '.join(available)}); fix the name (e.g. {example}) or add stage@stage.{name}=<kind>"
            )
    return names


def known_top_level_keys(conf_dir: Path = CONF_DIR) -> set[str]:
    """Keys of the primary config and the packages of its config groups (`model`, `data`, ...)."""
    primary = OmegaConf.load(conf_dir / "config.yaml")
    keys = {str(k) for k in primary.keys() if k != "defaults"}
    for entry in primary.get("defaults", []):
        if not isinstance(entry, DictConfig):
            continue
        for group in entry.keys():
            name, _, package = str(group).partition("@")
            if package:
                keys.add(package.split(".")[0])
            elif _group_sits_at_its_name(conf_dir / name, name):
                keys.add(name)
    return keys


def _group_sits_at_its_name(folder: Path, name: str) -> bool:
    """True unless every option of the group declares a package elsewhere (`tool`, `debug`)."""
    for option in folder.glob("*.yaml"):
        header = next((line for line in option.read_text().splitlines() if "@package" in line), None)
        if header is None or header.split("@package", 1)[1].strip().split(".")[0] == name:
            return True
    return False


def _interpolated_keys(cfg: DictConfig) -> set[str]:
    """Every dotted key some `${...}` interpolation in `cfg` names, with its parents."""
    import re

    used: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, DictConfig):
            for key in node.keys():
                walk(node._get_node(key))
        elif isinstance(node, ListConfig):
            for i in range(len(node)):
                walk(node._get_node(i))
        else:
            value = node._value() if hasattr(node, "_value") else node
            if isinstance(value, str) and "${" in value:
                for ref in re.findall(r"\$\{([A-Za-z_][\w.]*)\}", value):
                    parts = ref.split(".")
                    used.update(".".join(parts[: i + 1]) for i in range(len(parts)))

    walk(cfg)
    return used


def _plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=False)
    return value
