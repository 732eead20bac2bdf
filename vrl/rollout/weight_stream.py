"""Weights for a rollout engine, one tensor at a time: what `sync_weights` sends after a step.

Under FSDP2 (`vrl.trainer.FSDP2Strategy`, torch's `fully_shard`) every parameter is a DTensor
of which a rank holds only its shard. Calling `model.state_dict()` is then cheap (it returns
those shards), but turning the whole of it into plain tensors would hold the full model on every
rank at once: 16.6 GB of bf16 per GPU for Qwen2.5-VL-7B (8.29 B parameters), ~147 GB for 72B,
on top of the shards.
`stream_weights` instead gathers one entry at a time and lets the consumer (vLLM's
`reload_weights`, which copies each tensor into its own layers as it arrives) drop it before the
next is gathered.

Peak memory per rank, beyond the shards FSDP holds anyway (measured on CPU by
tests/rollout/test_weight_stream_on_cpu.py): one full entry of the state dict when the consumer
drops each tensor once copied; two consecutive entries when it keeps its loop variable while the
next is gathered, as vLLM's `load_weights` loops do. The largest entry of Qwen2.5-VL-7B is the
embedding or lm_head, 152064 x 3584 bf16 = 1.09 GB; the whole model would be 16.6 GB. (The
gather's receive buffers are freed when `full_tensor` returns.) Gathering one FSDP unit (a
decoder layer, ~0.47 GB for 7B) at a time would make fewer collectives for about the same peak;
one parameter is the simplest unit that is never larger than the largest parameter.

`full_tensor()` is a collective (an all-gather over the shard's mesh): every rank of the mesh
must walk the same entries in the same order, whether or not it feeds an engine. Ranks that do
not (`receive=False`: the non-driver ranks of a tensor-parallel engine group, see
`vrl.rollout.placement`) take part in each gather and drop the result; the generator yields
nothing to them, but they must still exhaust it.

Not covered: FSDP1 (Lightning's strategy "fsdp", `trainer=fsdp`), whose `state_dict()` gathers
the full state dict on every rank by itself (its root unit is Lightning's wrapper around the
LightningModule, outside the policy); streaming needs strategy "fsdp2" (`vrl.trainer.FSDP2Strategy`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from vrl.model.lora import is_peft_model, merged_state_dict

# Module wrappers that prefix state-dict keys: FSDP1's flat-param wrapper, torch's activation
# checkpoint wrapper and `torch.compile`'s OptimizedModule. FSDP2's `fully_shard` keeps the
# keys unchanged (it swaps the module's class in place; tests/rollout/test_weight_stream_on_cpu.py
# checks this), so under vrl's own strategies none of these appear; they are stripped in case a
# user wraps the model themselves, since vLLM maps checkpoint (HF) names only.
WRAPPER_PREFIXES = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


def hf_name(key: str) -> str:
    """The HF checkpoint name of a state-dict key: wrapper prefixes removed wherever they occur
    (`model._orig_mod.layers.0._checkpoint_wrapped_module.mlp.up_proj.weight` ->
    `model.layers.0.mlp.up_proj.weight`)."""
    for prefix in WRAPPER_PREFIXES:
        key = key.replace(prefix, "")
    return key


def is_sharded(tensor: Any) -> bool:
    """True for a DTensor (a parameter FSDP2 or tensor parallelism split over ranks)."""
    from torch.distributed.tensor import DTensor

    return isinstance(tensor, DTensor)


def stream_weights(model: torch.nn.Module, receive: bool = True) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield `(hf_name, full_tensor)` for every entry of `model`'s state dict, in its order.

    Args:
        model: the policy; plain, FSDP2-sharded (DTensor entries) or a peft (LoRA) wrapper.
        receive: whether this rank feeds an engine. False: take part in every gather (the ranks
            of a mesh must all call it, in order) and yield nothing.

    Yields:
        `(name, tensor)`: the name as the HF checkpoint spells it (`hf_name`); the tensor
        (detached, as `state_dict` gives it) with the full shape and the model's dtype, on the
        shard's device (a gathered one is a fresh tensor; a plain one is the module's own
        storage, not a copy).

    A gathered tensor is released when the consumer drops it: the generator holds no reference
    to it once it resumes, so a consumer that copies each tensor and lets it go keeps at most one
    full entry alive. LoRA models send their merged weights (`merged_state_dict`, as `save_vlm`
    writes them), computed for the whole model before the first entry: one merged state dict
    per rank (under FSDP2 the merge runs on DTensor shards, and each merged entry is gathered
    like any other; tests/rollout/test_weight_stream_on_cpu.py checks it against the unsharded
    merge).
    """
    if is_peft_model(model):
        _, entries = merged_state_dict(model)
    else:
        # state_dict() returns detached entries; of a sharded model, the shards (DTensors): no
        # gather happens here.
        entries = model.state_dict()
    for name in list(entries):
        tensor = entries.pop(name)  # a merged LoRA weight is freed once handed over
        # full_tensor(): a collective, every rank of the mesh, same order. Its result is yielded
        # as is (no view of it), so it dies with the consumer's last reference.
        full = tensor.full_tensor() if is_sharded(tensor) else tensor
        del tensor
        if receive:
            yield hf_name(name), full
        del full  # the generator's reference: the consumer's is the only one left
