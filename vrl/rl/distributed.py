"""The RL step on several ranks (DDP or FSDP2; one process is the special case W = 1).

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
   Under FSDP2 (`fully_shard`) each backward reduce-scatters the gradients itself:
   `sum_sharded_gradients` makes that reduction a sum (FSDP2's default divides by W), each rank
   steps its shard of the same global gradient, and `all_reduce_gradients` leaves sharded
   parameters alone.
6. Collectives stay paired. DDP runs its collectives outside the policy's forwards (one wrapper
   forward per step, the explicit all-reduce). FSDP2 gathers parameters in every forward and
   reduces in every backward, so every rank must run the same forwards: the rollout and
   steps 2-5 run on full weights gathered once (`vrl.rollout.full_weights`, hf engine), and
   every rank runs the same number of micro-batches per mini-batch (`micro_batches` pads a
   shorter share with a zero-weighted repeat of a row). An engine with its own weights (vLLM)
   leaves step 5's forwards sharded: they pair up when the ranks' shares are equal
   (`RLModule.configure_model` checks). Limitation: a micro-batch without images skips the
   vision tower's gathers, so a batch mixing text-only and image prompts could pair them wrongly.
7. Metrics are the global batch's (rollout statistics from the gathered trajectories; per-rank
   reward/tool statistics averaged weighted by responses; loss terms summed over ranks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import torch

from vrl.data.schema import Sample
from vrl.distributed import gather_objects, shard_bounds, world
from vrl.policy.trajectory import Trajectory

BUCKET = 1 << 25  # elements per gradient all-reduce (128 MB of fp32)


def gather_trajectories(
    local: list[Trajectory], samples: Sequence[Sample], first_group_id: int, extra: Any = None
) -> tuple[list[Trajectory], list[Any]]:
    """Every rank's trajectories of one prompt batch, in global prompt order, on every rank, and
    every rank's `extra` (rank order). `samples` is the whole batch; trajectory `t` belongs to
    `samples[t.group_id - first_group_id]`."""
    # One process: its share is the batch, in order; nothing to send, so nothing to copy.
    parts = (
        [(local, extra)]
        if world().size == 1
        else gather_objects(([replace(t, sample=None) for t in local], extra))
    )
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


def micro_batches(
    n: int, rank: int, size: int, micro_batch_size: int, pad: bool
) -> list[tuple[int, int] | None]:
    """Rank `rank`'s micro-batches of an `n`-row mini-batch: `[start, stop)` rows of its
    contiguous share (`shard_bounds`), `micro_batch_size` at a time. With `pad`, as many as the
    rank with the largest share runs (rank 0), the missing ones None: a rank runs a zero-weighted
    forward/backward for each None, so every rank joins the same FSDP2 collectives.

    Example: n=7, size=2, micro_batch_size=3: rank 0 [(0, 3), (3, 4)]; rank 1 [(4, 7)], or
    [(4, 7), None] with pad."""
    lo, hi = shard_bounds(n, rank, size)
    out: list[tuple[int, int] | None] = [
        (start, min(start + micro_batch_size, hi)) for start in range(lo, hi, micro_batch_size)
    ]
    if pad:
        first, last = shard_bounds(n, 0, size)
        rounds = -(-(last - first) // micro_batch_size)
        out += [None] * (rounds - len(out))
    return out


def sum_sharded_gradients(model: torch.nn.Module) -> int:
    """Make every FSDP2 unit of `model` sum its gradients over the ranks instead of averaging
    them (the RL loss is already divided by the global counts); returns the units changed (0 for
    a model that is not sharded)."""
    from torch.distributed.fsdp import FSDPModule

    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for unit in units:
        unit.set_gradient_divide_factor(1.0)
        # A plain SUM collective: FSDP2 would otherwise sum with NCCL's PREMUL_SUM(1 / factor),
        # which gloo lacks; with factor 1 no scaling kernel runs either way.
        unit.set_force_sum_reduction_for_comms(True)
    return len(units)


def all_reduce_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Sum every trainable parameter's gradient over the ranks, in place (buckets of `BUCKET`
    elements; a rank that had no rows for this update contributes zeros). Sharded (FSDP2,
    DTensor) parameters are skipped: their backward reduced them already."""
    if world().size == 1:
        return
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor

    params = [p for p in parameters if p.requires_grad and not isinstance(p, DTensor)]
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
