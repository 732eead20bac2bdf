"""What a model option is (`VLMSpec`), and the one loader and saver every option shares.

A model option (one `conf/model/*.yaml`) is a small object that knows two things:
`resolve` turns the option into something `from_pretrained` can read (a hub id, or a local
directory it builds once, like the tiny random model), and `load` turns that into a
`LoadedVLM`. Every option's `load` calls `load_vlm`, so a tiny test model and a 72B checkpoint
go through exactly the same code.

Device placement is not done here: models load on CPU and Lightning (or the rollout engine)
moves them.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from vrl.errors import ConfigError
from vrl.model.lora import apply_lora, is_peft_model, merged_state_dict
from vrl.model.processor import QwenVLProcessor, load_processor

log = logging.getLogger(__name__)

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass
class LoadedVLM:
    """A model ready to train or sample from, its processor, and where it came from.

    Attributes:
        model: a transformers `*ForConditionalGeneration` (or a peft wrapper of one when LoRA is on).
        processor: `QwenVLProcessor`; tokenizer pads on the left (batched generation).
        path: the hub id or directory it was loaded from.
    """

    model: nn.Module
    processor: QwenVLProcessor
    path: str


@runtime_checkable
class VLMSpec(Protocol):
    """A model option: how to get a checkpoint (`resolve`) and how to load it (`load`)."""

    name: str

    def resolve(self, work_dir: Path, corpus: Iterable[str]) -> str:
        """A local dir or hub id to load. Builders write into `work_dir` once and reuse it;
        `corpus` (texts the model will see) is only read by options that train a tokenizer."""
        ...

    def load(self, path: str) -> LoadedVLM:
        """Load the checkpoint at `path` (what `resolve` returned, or a saved stage output)."""
        ...


def load_vlm(
    path: str,
    *,
    dtype: str = "bfloat16",
    attn_implementation: str = "sdpa",
    gradient_checkpointing: bool = False,
    lora: dict[str, Any] | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    trust_remote_code: bool = False,
) -> LoadedVLM:
    """Load model + processor from a hub id or a local checkpoint directory.

    Args:
        path: passed to `from_pretrained` unchanged.
        dtype: "bfloat16" | "float16" | "float32" | "auto" (the checkpoint's own dtype).
        attn_implementation: "sdpa" | "eager" | "flash_attention_2" (needs flash-attn + CUDA).
        gradient_checkpointing: recompute each decoder layer's activations in backward
            (non-reentrant): about one extra forward per step for far less activation memory.
        lora: None for full fine-tuning, else `{"r", "alpha", "dropout", "target_modules"}`
            (see `vrl.model.lora.apply_lora`).
        min_pixels / max_pixels: per-image pixel budget of the processor (None: checkpoint's).
        trust_remote_code: allow model code shipped with the checkpoint.

    Returns the model on CPU in eval mode (as `from_pretrained` leaves it) with its processor.
    """
    torch_dtype = _torch_dtype(dtype)
    _check_attn(attn_implementation)
    from transformers import AutoModelForImageTextToText

    # AutoModelForImageTextToText maps qwen2_vl / qwen2_5_vl configs to their
    # *ForConditionalGeneration class, and other VLMs to theirs.
    model = AutoModelForImageTextToText.from_pretrained(
        path,
        dtype=torch_dtype,
        attn_implementation=attn_implementation,
        trust_remote_code=trust_remote_code,
        # transformers >= 5.25 kernelizes by default (hub kernels where it has some for the device)
        # and again on every train()/eval() switch, which the RL step makes twice a step (~2 ms
        # each on the tiny default, a walk of every module on any model); its inference kernels
        # would also make the rollout's numbers differ from the update's. Stock modules only.
        use_kernels=False,
    )
    if gradient_checkpointing:
        # Non-reentrant checkpointing works with frozen inputs (LoRA) without extra hooks.
        # transformers >= 5.23 renamed the method; the old name still works but warns.
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora:
        model = apply_lora(model, _plain(lora))
    processor = load_processor(path, min_pixels=min_pixels, max_pixels=max_pixels)
    return LoadedVLM(model=model, processor=processor, path=str(path))


def save_vlm(
    loaded_or_model: LoadedVLM | nn.Module,
    processor: QwenVLProcessor | None,
    out_dir: Path | str,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write a complete, ordinary HF checkpoint (config, safetensors, processor, chat template).

    LoRA: adapters are merged into the saved weights (out of place; the live model keeps its
    adapters), so the output loads with `load_vlm` like any checkpoint and never needs peft.
    `processor` may be None when a `LoadedVLM` is given (its processor is used).
    `state_dict`: full weights gathered from a sharded strategy (FSDP, DeepSpeed); None = the
    model's own (unsharded) parameters.
    """
    if isinstance(loaded_or_model, LoadedVLM):
        model, processor = loaded_or_model.model, processor or loaded_or_model.processor
    else:
        model = loaded_or_model
    if processor is None:
        raise ValueError("save_vlm needs a processor (or a LoadedVLM that carries one)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_peft_model(model):
        base, state = merged_state_dict(model)
        base.save_pretrained(out_dir, state_dict=state)
    elif state_dict is not None:
        model.save_pretrained(out_dir, state_dict=state_dict)
    else:
        model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    log.info("saved model and processor to %s", out_dir)


def check_load_options(
    dtype: str,
    attn_implementation: str,
    lora: dict[str, Any] | None,
    min_pixels: int | None,
    max_pixels: int | None,
) -> None:
    """The `load_vlm` options a model option holds, checked when the option is built (before
    any work) rather than when a stage first loads the model; one-line ConfigError each. What
    depends on the machine (flash-attn installed) is `check_environment`, at pre-flight."""
    _torch_dtype(dtype)
    if lora:
        from vrl.model.lora import check_lora

        check_lora(_plain(lora))
    for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"model.{key}={value!r} must be an integer >= 1 or null")
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        raise ConfigError(
            f"model.min_pixels={min_pixels} must be <= model.max_pixels={max_pixels} (the image budget)"
        )


def check_environment(attn_implementation: str) -> None:
    """What loading needs from this machine (flash-attn for flash_attention_2); one line if missing."""
    _check_attn(attn_implementation)


def _torch_dtype(dtype: str) -> torch.dtype | str:
    if dtype == "auto":
        return "auto"
    if dtype not in _DTYPES:
        raise ConfigError(
            f"model.dtype={dtype!r} is not one of {sorted(_DTYPES) + ['auto']}; pick one of those"
        )
    return _DTYPES[dtype]


def _check_attn(attn_implementation: str) -> None:
    # Other values (eager, flex_attention, hub kernels) are validated by transformers itself.
    if attn_implementation == "flash_attention_2" and _not_a_package("flash_attn"):
        raise ConfigError(
            f"model.attn_implementation={attn_implementation} needs the flash-attn package and a CUDA GPU; "
            "install flash-attn or set model.attn_implementation=sdpa"
        )


def _plain(value: Any) -> Any:
    """Hydra hands over DictConfig/ListConfig; peft and json want plain containers."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:
        pass
    return value


def _not_a_package(name: str) -> bool:
    """`name` cannot be imported as a real package (a same-named directory is not one)."""
    spec = importlib.util.find_spec(name)
    return spec is None or spec.origin is None
