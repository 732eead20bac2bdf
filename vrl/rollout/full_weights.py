"""Full weights for a rollout on an FSDP2 (`fully_shard`) model: gathered once, no collectives.

Under FSDP2 every forward of a sharded unit all-gathers its parameters, a collective that every
rank must join in the same order. `generate` runs a data-dependent number of forwards (ranks
stop at different lengths, roll out different prompt counts), so on several ranks the gathers
would pair up wrongly or hang. `full_weights` does what verl's hybrid engine does before a
rollout: every FSDP unit is unsharded once (one all-gather per unit, in module order, the same
on every rank), reshard-after-forward is switched off, and every forward inside the block then
finds its parameters in place and runs locally. On exit the units are resharded (the full
copies freed) and their reshard-after-forward settings restored, ready for the update.

Memory: on several ranks, inside the block each rank holds the whole model in its parameter
dtype beside its shards, e.g. 16.6 GB of bf16 for Qwen2.5-VL-7B (8.29 B parameters), for the
rollout only (the price verl's hybrid engine pays too; a vLLM engine, which gets the weights
streamed one tensor at a time by `vrl.rollout.weight_stream`, avoids it).

On one process there is no collective to keep in step, so only the root unit is unsharded
(embeddings, LM head, vision merger: the parameters `generate`'s own vision-tower call would
otherwise find sharded); the wrapped blocks gather one at a time through their hooks.

Nested blocks over the same model are free (the outer one holds the weights), and a model that
is not an `FSDPModule` passes through, so the hf engine can use it on any model.
(tests/rl/test_rl_fsdp2_on_cpu.py, tests/rl/test_rl_fsdp2_step.py)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

_DEPTH = "_vrl_full_weights_depth"  # open blocks on a model (set on the model object)


@contextmanager
def full_weights(*models: Any) -> Iterator[None]:
    """Every FSDP unit of each of `models` unsharded for the block (None entries skipped; on one
    process the root unit only).

    A collective on entry (the all-gathers) under FSDP2: every rank of the mesh enters the
    block, in the same order of models, whether or not it has work inside it."""
    with ExitStack() as stack:
        for model in models:
            if model is not None:
                stack.enter_context(_unsharded(model))
        yield


@contextmanager
def _unsharded(model: Any) -> Iterator[None]:
    from torch.distributed.fsdp import FSDPModule

    from vrl.distributed import world

    depth = getattr(model, _DEPTH, 0)
    if not isinstance(model, FSDPModule) or depth:
        setattr(model, _DEPTH, depth + 1)
        try:
            yield
        finally:
            setattr(model, _DEPTH, depth)
        return
    # The model's own root must be FSDP's root: `generate` runs the vision tower before any
    # forward of the root module, and FSDP takes the first unit to run forward for the root
    # ("FSDP requires running forward through the root module first"). `_lazy_init` is
    # private but idempotent; a training step does it at its first forward.
    model._get_fsdp_state()._lazy_init()
    # One process runs no collective: only the root unit (whose own parameters generate's
    # vision-tower call would miss), the blocks gather one at a time through their hooks, as in
    # training. (FSDP2 copies even on one rank: unsharding all would double the weights.)
    several = world().size > 1
    units = [m for m in model.modules() if isinstance(m, FSDPModule)] if several else [model]
    # Each unit's post-forward setting (the root's is off already), restored on exit.
    saved = [[g.post_forward_mesh_info for g in unit._get_fsdp_state()._fsdp_param_groups] for unit in units]
    setattr(model, _DEPTH, 1)
    try:
        for unit in units:
            unit.set_reshard_after_forward(False, recurse=False)
            unit.unshard()  # one all-gather per unit, in module order on every rank
        yield
    finally:
        for unit, infos in zip(units, saved):
            unit.reshard()
            for group, info in zip(unit._get_fsdp_state()._fsdp_param_groups, infos):
                group.post_forward_mesh_info = info
        setattr(model, _DEPTH, 0)
