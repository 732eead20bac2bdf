"""Where a policy's parts sit, whatever wraps it: the transformers model under a peft (LoRA)
wrapper, and the KV cache a forward returned (its key differs across transformers 5 releases)."""

from __future__ import annotations

from typing import Any


def base_model(model: Any) -> Any:
    """The transformers model: `model` itself, or the one a peft wrapper holds."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def returned_cache(output: Any) -> Any:
    """The KV cache of a forward's output: `cache` (later transformers 5 releases, with
    `layers[i].keys / .values`) or `past_key_values` (earlier ones, e.g. 5.19); None without one."""
    return output.get("cache") if output.get("cache") is not None else output.get("past_key_values")
