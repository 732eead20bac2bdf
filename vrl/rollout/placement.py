"""Which trainer ranks form which rollout engine, when an engine spans several GPUs.

A colocated engine with tensor parallelism TP (`rollout.tensor_parallel_size`, the
`VLLMRolloutEngine` argument; `hf` is always 1) shards one copy of the model over TP GPUs, so a
run of W trainer ranks (one per GPU) holds W / TP engines. Engine e is made of the consecutive
ranks `e*TP .. e*TP + TP-1`, which never straddle a node (TP must divide the GPUs per node:
tensor-parallel all-reduces run every layer and need the node's NVLink, not the network). Its
first rank is the *driver*: it holds the engine, receives the trainer's weights after each step
(`vrl.rollout.weight_stream.stream_weights(receive=driver)`) and samples for the whole group;
the others only take part in the weight gathers.

Prompts: ranks split a step's prompts as always (`vrl.distributed.shard_bounds`, whole groups,
contiguous); an engine serves the union of its ranks' shares, itself contiguous.

    72B, 8 GPUs, TP 4:   ranks 0-3 -> engine 0 (driver 0), ranks 4-7 -> engine 1 (driver 4)
    7B, 8 GPUs, TP 1:    rank r -> engine r, every rank a driver
    16 ranks on 2 nodes of 8, TP 8: ranks 0-7 -> engine 0 (driver 0), 8-15 -> engine 1 (driver 8)

Today's RL step rolls out on every rank with its own engine, so it runs with TP = 1 or with one
process; routing a group's prompts through its driver is what TP > 1 with several trainer ranks
still needs (the placement is what that routing reads).
"""

from __future__ import annotations

from dataclasses import dataclass

from vrl.distributed import shard_bounds
from vrl.errors import ConfigError


@dataclass(frozen=True)
class EnginePlacement:
    """One rank's place among the engines.

    Attributes:
        rank: this global trainer rank, 0 .. world_size-1.
        engine: index of the engine the rank belongs to, 0 .. num_engines-1.
        num_engines: engines in the run (world_size / tensor_parallel_size).
        driver: whether this rank is its engine's driver (holds it, receives weights, samples).
        group: the global ranks of the engine's group, driver first (length TP).
        world_size: trainer ranks in the run.
    """

    rank: int
    engine: int
    num_engines: int
    driver: bool
    group: tuple[int, ...]
    world_size: int

    def prompt_bounds(self, num_prompts: int) -> tuple[int, int]:
        """[start, stop) of the step's `num_prompts` prompts (groups) this rank's engine serves:
        the union of its ranks' shares."""
        start, _ = shard_bounds(num_prompts, self.group[0], self.world_size)
        _, stop = shard_bounds(num_prompts, self.group[-1], self.world_size)
        return start, stop


def check_engine_layout(world_size: int, tensor_parallel_size: int, gpus_per_node: int | None) -> None:
    """Raise `ConfigError` (one line naming the keys) unless TP engines tile the ranks and nodes.

    Args:
        world_size: trainer ranks (`trainer.devices` x `trainer.num_nodes`), >= 1.
        tensor_parallel_size: GPUs per engine (`rollout.tensor_parallel_size`), >= 1.
        gpus_per_node: trainer ranks per node (`trainer.devices`), >= 1; None skips the node
            checks (a caller that only needs the arithmetic, after pre-flight checked them).
    """
    tp = tensor_parallel_size
    if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
        raise ConfigError(f"rollout.tensor_parallel_size={tp!r} must be an integer >= 1")
    if world_size < 1 or (gpus_per_node is not None and gpus_per_node < 1):
        raise ConfigError(f"world size {world_size} and GPUs per node {gpus_per_node} must be >= 1")
    if gpus_per_node is None:
        pass
    elif tp > gpus_per_node:
        raise ConfigError(
            f"rollout.tensor_parallel_size={tp} is more than the {gpus_per_node} GPU(s) per node "
            f"(trainer.devices): an engine must fit on one node; lower it or use nodes with >= {tp} GPUs"
        )
    elif gpus_per_node % tp:
        raise ConfigError(
            f"rollout.tensor_parallel_size={tp} does not divide trainer.devices={gpus_per_node}: "
            "an engine would straddle two nodes; use a divisor of the GPUs per node"
        )
    if world_size % tp:
        raise ConfigError(
            f"rollout.tensor_parallel_size={tp} does not divide the {world_size} trainer ranks "
            "(trainer.devices x trainer.num_nodes): every rank must belong to one engine"
        )


def engine_placement(
    rank: int, world_size: int, tensor_parallel_size: int, gpus_per_node: int | None
) -> EnginePlacement:
    """Where rank `rank` of `world_size` sits among engines of `tensor_parallel_size` GPUs each
    (validated by `check_engine_layout`; see the module docstring for the layout)."""
    check_engine_layout(world_size, tensor_parallel_size, gpus_per_node)
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is outside the world of {world_size} ranks")
    tp = tensor_parallel_size
    engine = rank // tp
    first = engine * tp
    return EnginePlacement(
        rank=rank,
        engine=engine,
        num_engines=world_size // tp,
        driver=rank == first,
        group=tuple(range(first, first + tp)),
        world_size=world_size,
    )
