"""Which settings a sweep varies, and this job's values of them: W&B names and config keys.

A multirun's jobs differ only in the overrides the sweep varies: the comma lists, ranges and
choices of the command line (kept in `<sweep dir>/multirun.yaml`) and `hydra.sweeper.params` (a
`+sweeps=...` config). This job's own values come from its `hydra.overrides.task`. The label
joins them as `lr=1e-5,replay=ssr` (the last part of each key, or the whole key where two swept
keys end alike), so W&B run names differ across the jobs of one sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser


def swept_keys(sweep_overrides: list[str], sweeper_params: dict[str, Any] | None = None) -> list[str]:
    """Keys (or config groups) the sweep varies, in command-line order, then `sweeper_params`'."""
    parsed = OverridesParser.create().parse_overrides(list(sweep_overrides))
    keys = [o.key_or_group for o in parsed if o.is_sweep_override()]
    for key, values in (sweeper_params or {}).items():
        if key.lstrip("+~") not in keys and _is_sweep(key, str(values)):
            keys.append(key.lstrip("+~"))
    return keys


def _is_sweep(key: str, values: str) -> bool:
    (override,) = OverridesParser.create().parse_overrides([f"{key}={values}"])
    return override.is_sweep_override()


def job_values(job_overrides: list[str], keys: list[str]) -> dict[str, str]:
    """This job's value of each swept key, as written in its overrides (`{"seed": "1"}`)."""
    values: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(list(job_overrides)):
        if override.key_or_group in keys:
            values[override.key_or_group] = override.input_line.split("=", 1)[1]
    return {key: values[key] for key in keys if key in values}


def short_names(keys: list[str]) -> dict[str, str]:
    """Each key's last dotted part (`stage.sft.lr` -> `lr`), or the whole key when two share it."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: tail if last.count(tail) == 1 else key for key, tail in zip(keys, last, strict=True)}


def label(values: dict[str, str]) -> str:
    """`lr=1e-5,replay=ssr`: the job's swept values under their short names ('' for none)."""
    names = short_names(list(values))
    return ",".join(f"{names[key]}={value}" for key, value in values.items())


def current_job() -> dict[str, str]:
    """The running Hydra job's values of its sweep's swept keys ({} outside a multirun)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return {}
    if hydra_cfg.mode is None or hydra_cfg.mode.name != "MULTIRUN":
        return {}
    multirun = Path(hydra_cfg.sweep.dir) / "multirun.yaml"
    sweep_overrides = list(OmegaConf.load(multirun).hydra.overrides.task) if multirun.is_file() else []
    params = OmegaConf.to_container(hydra_cfg.sweeper.params) if hydra_cfg.sweeper.get("params") else None
    return job_values(list(hydra_cfg.overrides.task), swept_keys(sweep_overrides, params))
