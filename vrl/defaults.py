"""Every typed default, handed to Hydra: the config tree holds overrides only, yet shows every key.

Each setting has one default, in the typed object that uses it (a settings dataclass, a
constructor's signature). `register()` turns those objects into config nodes in Hydra's
ConfigStore, group `settings`, and the option files pull them in under their own keys:

    # vrl/conf/stage/rl.yaml
    defaults:
      - /settings@_here_: rl      # every RLSettings field at its typed default
      - _self_

So the composed config (`python -m vrl --cfg job`) lists every setting, any of them can be
overridden on the command line without `+`, a misspelt key is refused, and the value itself is
written once, in Python.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object

# settings/<name> -> the `_target_` whose defaults it holds.
TYPED: dict[str, str] = {
    "data": "vrl.stages.DataSettings",
    "flywheel": "vrl.stages.FlywheelSettings",
    "sft": "vrl.sft.settings.SFTSettings",
    "rl": "vrl.rl.settings.RLSettings",
    "eval": "vrl.stages.EvalSettings",
    "sampling": "vrl.policy.sampling.Sampling",
    "reward_pool": "vrl.reward.PoolSettings",
    "sandbox": "vrl.sandbox.make_sandbox",
    "tool_loop": "vrl.rollout.ToolLoop",
    "hf_engine": "vrl.rollout.HFRolloutEngine",
    "fast_engine": "vrl.rollout.fast.FastRolloutEngine",
    "vllm_engine": "vrl.rollout.vllm.VLLMRolloutEngine",
}
# Parameters that take components (configured as their own nodes or passed in), not settings.
COMPONENTS = {"tool", "sandbox", "sampling", "tool_loop"}


def defaults_of(target: str) -> dict[str, Any]:
    """`{_target_, parameter: default}` for every setting of `target` that has a default."""
    obj = get_object(target)
    node: dict[str, Any] = {"_target_": target}
    if dataclasses.is_dataclass(obj):
        for field in dataclasses.fields(obj):
            if field.default is not dataclasses.MISSING:
                node[field.name] = _plain(field.default)
            elif field.default_factory is not dataclasses.MISSING:
                node[field.name] = _plain(field.default_factory())
        return node
    for name, param in inspect.signature(obj).parameters.items():
        if name in COMPONENTS or param.default is inspect.Parameter.empty:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        node[name] = _plain(param.default)
    return node


def register() -> None:
    """Store every typed default as `settings/<name>` (idempotent; call before composing)."""
    store = ConfigStore.instance()
    for name, target in TYPED.items():
        store.store(group="settings", name=name, node=defaults_of(target))


def _plain(value: Any) -> Any:
    """A value OmegaConf can hold: tuples become lists, mappings dicts."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
