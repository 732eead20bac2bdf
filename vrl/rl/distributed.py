"""The RL step on several ranks (DDP; one process is the special case W = 1).

Design (what each rank does in one step; `RLModule.training_step`):
1. Every rank has the step's whole prompt batch (`PromptStream.batch_at` is a pure function of
   seed and position) and rolls out its contiguous share (`vrl.distributed.shard`), so a group
   (the n responses to one prompt) never spans ranks and group ids are global. Each rank samples
   from its own RNG stream (`vrl.trainer.seed_rank`).
2. Rewards, forced rethinking, old log-probs and group advantages are computed on the rank that
   rolled out (they only need the group).
3. `gather_trajectories`: every rank receives every rank's scored trajectories, in prompt order,
   without their samples (it re-attaches them from its own copy of the batch; only token ids,
   log-probs, rewards and tool images travel).
4. From here the step is the one-process algorithm on the union, computed identically on every
   rank: the replay policy selects from the global batch (SSR's store and generator are one
   *global* store, replicated: same inputs, same draws on every rank; dynamic sampling counts
   global groups and every rank rolls out its share of each extra batch); mini-batches and the
   loss's global counts (token-mean's token count, seq-mean's sequence count) are the global
   mini-batch's.
5. The update: each rank runs forward/backward on its share of each mini-batch; DDP's own
   gradient averaging is switched off and `all_reduce_gradients` sums the ranks' gradients
   once per optimizer step. Because every micro-batch loss is already divided by the global
   count, the sum is the gradient one process would compute on the whole mini-batch; clipping
   and the optimizer step then run on identical gradients, so the weights stay identical.
6. Metrics are the global batch's (rollout statistics from the gathered trajectories; per-rank
   reward/tool statistics averaged weighted by responses; loss terms summed over ranks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import torch

from vrl.data.schema import Sample
from vrl.distributed import gather_objects, world
from vrl.policy.trajectory import Trajectory

BUCKET = 1 << 25  # elements per gradient all-reduce (128 MB of fp32)


def gather_trajectories(
    local: list[Trajectory], samples: Sequence[Sample], first_group_id: int, extra: Any = None
) -> tuple[list[Trajectory], list[Any]]:
    """Every rank's trajectories of one prompt batch, in global prompt order, on every rank, and
    every rank's `extra` (rank order). `samples` is the whole batch; trajectory `t` belongs to
    `samples[t.group_id - first_group_id]`."""
    light = [replace(t, sample=None) for t in local]
    parts = gather_objects((light, extra))
    merged: list[Trajectory] = []
    for part, _ in parts:
        for trajectory in part:
            trajectory.prompt_index = trajectory.group_id - first_group_id
            trajectory.sample = samples[trajectory.prompt_index]
            merged.append(trajectory)
    return merged, [extra for _, extra in parts]


def weighted_means(parts: Iterable[tuple[dict[str, float], int]]) -> dict[str, float]:
    """Per-rank metric dicts -> one, each key averaged weighted by the rank's responses
    (`*_max` keys take the max, `*_min` the min)."""
    parts = [(stats, n) for stats, n in parts if n > 0 and stats]
    keys = dict.fromkeys(k for stats, _ in parts for k in stats)
    out = {}
    for key in keys:
        values = [(float(stats[key]), n) for stats, n in parts if key in stats]
        if key.endswith("_max"):
            out[key] = max(v for v, _ in values)
        elif key.endswith("_min"):
            out[key] = min(v for v, _ in values)
        else:
            out[key] = sum(v * n for v, n in values) / sum(n for _, n in values)
    return out


def summed(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per-rank dicts of sums -> their sum, key by key."""
    out: dict[str, float] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = out.get(key, 0.0) + float(value)
    return out


def all_reduce_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Sum every trainable parameter's gradient over the ranks, in place (buckets of `BUCKET`
    elements; a rank that had no rows for this update contributes zeros)."""
    if world().size == 1:
        return
    import torch.distributed as dist

    params = [p for p in parameters if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    bucket: list[torch.Tensor] = []
    size = 0
    for p in params:
        bucket.append(p.grad)
        size += p.grad.numel()
        if size >= BUCKET:
            _reduce(bucket, dist)
            bucket, size = [], 0
    if bucket:
        _reduce(bucket, dist)


def _reduce(grads: list[torch.Tensor], dist: Any) -> None:
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    for grad, reduced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(reduced)


def disable_ddp_gradient_sync(strategy: Any) -> bool:
    """Stop DDP from averaging gradients at each backward of this training step (the RL step
    sums them once per optimizer step itself); True if the model was a DDP wrapper. Call it in
    every `training_step`: Lightning sets the flag back to True after each step."""
    from torch.nn.parallel import DistributedDataParallel

    model = getattr(strategy, "model", None)
    if isinstance(model, DistributedDataParallel):
        model.require_backward_grad_sync = False
        return True
    return False
