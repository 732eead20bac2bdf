"""LoRA adapters on the language model of a VLM (via `peft`), and merged weights for saving.

Adapters go on the language model only: the vision tower's MLP shares names with the text MLP
(`gate_proj`, `up_proj`, `down_proj`), so a plain name list would also adapt the vision encoder.
We build a full-match regex over module paths that excludes `visual`, which peft accepts as
`target_modules` in every version.

Saving (`merged_state_dict`): vrl writes full checkpoints, never adapter-only folders, so every
later stage (eval, vLLM rollouts, the next training stage) loads outputs through the same
`load_vlm` path as a hub checkpoint. The merge is computed out of place (W + B@A * alpha/r per
adapted layer), so training can continue with the adapters untouched after a save.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vrl.errors import ConfigError

# The attention and MLP projections of Qwen2/2.5 decoder layers.
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_LORA_KEYS = {"r", "alpha", "dropout", "target_modules"}


def apply_lora(model: nn.Module, lora: dict[str, Any]) -> nn.Module:
    """Wrap `model` in a peft `PeftModel` with LoRA adapters; only adapter weights stay trainable.

    Args:
        lora: `{"r": int, "alpha": float, "dropout": float, "target_modules": [names] | regex}`.
            `r` is required; alpha defaults to 2*r, dropout to 0, target_modules to the
            attention + MLP projections of the language model. A list of names is restricted to
            the language model; a string is used as a full-match regex over module paths.
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError(
            "model.lora is set but the peft package is missing; pip install 'vrl[lora]' (peft) or set model.lora=null"
        ) from None
    lora = check_lora(lora)
    r = int(lora["r"])
    config = LoraConfig(
        r=r,
        lora_alpha=float(lora.get("alpha") or 2 * r),
        lora_dropout=float(lora.get("dropout") or 0.0),
        target_modules=_target_regex(lora.get("target_modules")),
        bias="none",
    )
    return get_peft_model(model, config)


def check_lora(lora: Any) -> dict[str, Any]:
    """`lora` as a dict after checking its keys and ranges; a one-line ConfigError otherwise
    (called when the model option is built, before any work)."""
    if not isinstance(lora, dict):
        raise ConfigError(f"model.lora={lora!r} must be a mapping, e.g. {{r: 8, alpha: 16}}, or null")
    lora = dict(lora)
    unknown = set(lora) - _LORA_KEYS
    if unknown or "r" not in lora:
        problem = f"unknown key(s) {sorted(unknown)}" if unknown else "missing key r"
        raise ConfigError(f"model.lora has {problem}; allowed keys: {sorted(_LORA_KEYS)} (r required)")
    r, alpha, dropout = lora["r"], lora.get("alpha"), lora.get("dropout")
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ConfigError(f"model.lora.r={r!r} must be an integer >= 1 (the adapters' rank)")
    if alpha is not None and (
        isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0
    ):
        raise ConfigError(f"model.lora.alpha={alpha!r} must be > 0, or null for 2 * r")
    if dropout is not None and (
        isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1
    ):
        raise ConfigError(f"model.lora.dropout={dropout!r} must be in [0, 1)")
    return lora


def is_peft_model(model: nn.Module) -> bool:
    """True when `model` is a peft wrapper (has adapters)."""
    return hasattr(model, "get_base_model") and hasattr(model, "peft_config")


def merged_state_dict(peft_model: nn.Module) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """The base transformers model and its state dict with LoRA deltas folded in.

    Keys are the base model's own (`...q_proj.weight`, not `...q_proj.base_layer.weight`), so
    `base.save_pretrained(dir, state_dict=sd)` writes an ordinary checkpoint. Nothing is mutated.
    """
    base = peft_model.get_base_model()
    state = {}
    for key, tensor in base.state_dict().items():
        if ".lora_" in key:  # adapter matrices themselves are folded in below
            continue
        state[key.replace(".base_layer.", ".")] = tensor
    for name, module in base.named_modules():
        if not hasattr(module, "get_delta_weight") or not hasattr(module, "base_layer"):
            continue
        weight_key = f"{name}.weight"
        weight = state[weight_key]
        with torch.no_grad():
            delta = sum(module.get_delta_weight(a) for a in module.active_adapters if a in module.lora_A)
            state[weight_key] = (weight.float() + delta.float()).to(weight.dtype)
    return base, state


def _target_regex(target_modules: Any) -> str:
    if isinstance(target_modules, str):
        return target_modules
    names = list(target_modules) if target_modules else list(DEFAULT_TARGET_MODULES)
    # Module paths look like `model.language_model.layers.0.self_attn.q_proj`; skip `model.visual.*`.
    return rf"^(?!.*\bvisual\b).*\.({'|'.join(names)})$"
