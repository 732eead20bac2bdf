"""The processes of one run: who is who, how they start, and how they wait for each other.

A run with `trainer.devices * trainer.num_nodes > 1` processes runs the *whole* pipeline on every
process, in lockstep, from the first line of `vrl.run.run`:

- Under SLURM (`tasks_per_node = devices`, Lightning's `SLURMEnvironment`) or torchrun, the
  cluster starts every process. Locally, rank 0 starts the others itself at the top of the run
  (`spawn_local_ranks`, the same command with `LOCAL_RANK`/`RANK`/`WORLD_SIZE` set), instead of
  Lightning starting them at the first `trainer.fit`: so every stage, not only training, sees
  every rank, exactly as under SLURM.
- The process group is made once, before any stage (`init_process_group`: NCCL on GPUs, else
  gloo), and Lightning's strategies reuse it. A second gloo group with a long timeout carries
  objects and barriers (`gather_objects`, `barrier`), so a rank may wait through a long data
  stage on rank 0.
- Stages that write products alone (data, flywheel) run on rank 0 while the others wait;
  training and eval run on every rank (`vrl.run`). Rank 0 alone writes DONE.json, summary.md,
  plots and logs.

`World` reads the environment each time, so tests may set it per process.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

log = logging.getLogger("vrl")
T = TypeVar("T")

# A barrier that waits for rank 0's data stage may wait hours; collectives inside training keep
# torch's default timeout.
COORDINATION_TIMEOUT = timedelta(hours=24)
_COORD_GROUP: Any = None


@dataclass(frozen=True)
class World:
    """This process's place in the run.

    Attributes:
        rank: global rank (0 writes products, logs and the summary).
        local_rank: rank on this node (picks the GPU).
        size: processes in the run.
        launcher: who started the processes: "single", "slurm", "env" (torchrun, or
            `spawn_local_ranks`).
    """

    rank: int = 0
    local_rank: int = 0
    size: int = 1
    launcher: str = "single"

    @property
    def is_zero(self) -> bool:
        return self.rank == 0


_WORLD: World | None = None  # fixed once the process group is joined


def world() -> World:
    """This process's `World`: from the environment the launcher set, until the process group
    is joined; from then on the same answer (Lightning deletes WORLD_SIZE when a fit ends)."""
    if _WORLD is not None:
        return _WORLD
    return _world_from_env()


def _world_from_env() -> World:
    env = os.environ
    if _slurm_tasks() > 1:
        return World(int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", 0)), _slurm_tasks(), "slurm")
    if "LOCAL_RANK" in env and int(env.get("WORLD_SIZE", "1")) > 1:
        local = int(env["LOCAL_RANK"])
        rank = int(
            env.get("RANK", int(env.get("NODE_RANK", 0)) * int(env.get("LOCAL_WORLD_SIZE", 1)) + local)
        )
        return World(rank, local, int(env["WORLD_SIZE"]), "env")
    return World()


def _slurm_tasks() -> int:
    """Tasks of this SLURM job step (srun), 0 outside SLURM or in an interactive allocation."""
    if "SLURM_NTASKS" not in os.environ or os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return 0
    if "SLURM_PROCID" not in os.environ:
        return 0
    return int(os.environ["SLURM_NTASKS"])


def is_rank_zero() -> bool:
    return world().is_zero


SPAWNED_BY = "VRL_SPAWNED_BY"  # set by `spawn_local_ranks` in each child: its parent's pid


def is_spawned_rank() -> bool:
    """True in a rank that `spawn_local_ranks` started: it runs its parent's (already restored)
    command and leaves the user's messages to rank 0. A LOCAL_RANK merely inherited (a test runner
    or notebook that ran Lightning, a shell inside a torchrun job) does not make `python -m vrl`
    a spawned rank: the marker must name this process's own parent."""
    return os.environ.get(SPAWNED_BY) == str(os.getppid())


# -- starting the processes ----------------------------------------------------------------------


def spawn_local_ranks(
    processes: int, command: Sequence[str], cwd: str | None = None
) -> list[subprocess.Popen]:
    """Start ranks 1..processes-1 of a one-node run as copies of `command` (`{rank}` in an
    argument becomes the child's rank) and make this process
    rank 0. Each child gets LOCAL_RANK, RANK, WORLD_SIZE, NODE_RANK, MASTER_ADDR, MASTER_PORT
    (what Lightning's `LightningEnvironment` reads: it then starts no processes of its own) and
    dies with its parent (PR_SET_PDEATHSIG). A watcher stops this process if a child fails, so
    no rank waits forever in a collective its peer will never join."""
    port = _free_port()
    common = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(processes),
        "LOCAL_WORLD_SIZE": str(processes),
        "NODE_RANK": "0",
    }
    os.environ.update(common, LOCAL_RANK="0", RANK="0")
    children = []
    for rank in range(1, processes):
        env = {
            **os.environ,
            **common,
            "LOCAL_RANK": str(rank),
            "RANK": str(rank),
            SPAWNED_BY: str(os.getpid()),
        }
        args = [arg.replace("{rank}", str(rank)) for arg in command]
        children.append(subprocess.Popen(args, env=env, cwd=cwd, preexec_fn=_die_with_parent))
    log.info("started ranks 1..%d of %d (pids %s)", processes - 1, processes, [c.pid for c in children])
    threading.Thread(target=_watch, args=(children, os.getpid()), daemon=True, name="vrl-ranks").start()
    return children


def stop_children(children: list[subprocess.Popen], timeout: float = 60.0) -> list[int | None]:
    """Wait for the child ranks (they finish the same pipeline), then stop any left; their exit codes."""
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return [child.returncode for child in children]


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the watcher and the gloo timeouts still end the run
        pass


USER_ERROR_STATUS = 2  # `python -m vrl`'s exit status for a fixable error (one line, from rank 0)
USER_ERROR_GRACE_S = 20.0  # how long rank 0 may take to find the same error before it is stopped
_FAILED_RANK: tuple[int, int] | None = None  # (rank, exit status) of the child rank that stopped the run


def failed_rank() -> tuple[int, int] | None:
    """(rank, exit status) of the spawned rank whose failure stopped this process, if one did."""
    return _FAILED_RANK


def _watch(children: list[subprocess.Popen], parent: int) -> None:
    global _FAILED_RANK
    while True:
        time.sleep(1.0)
        failed = [(i + 1, c.returncode) for i, c in enumerate(children) if c.poll() not in (None, 0)]
        if failed:
            rank, code = failed[0]
            _FAILED_RANK = (rank, code)
            if code == USER_ERROR_STATUS:
                # Every rank runs the same pre-flight and only rank 0 prints its error line: a
                # faster rank must not stop rank 0 before it prints. This thread dies with rank 0
                # when rank 0 exits on its own; it stops rank 0 only if it is still running then
                # (waiting in a collective for the dead rank).
                time.sleep(USER_ERROR_GRACE_S)
            print(
                f"vrl: rank {rank} exited with status {code}: stopping the run", file=sys.stderr, flush=True
            )
            for child in children:
                if child.poll() is None:
                    child.terminate()
            os.kill(parent, signal.SIGTERM)
            time.sleep(30)
            os.kill(parent, signal.SIGKILL)  # still in a collective with the dead rank
            return
        if all(c.poll() == 0 for c in children):
            return


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the process group ---------------------------------------------------------------------------


def init_process_group(accelerator: str = "cpu") -> World:
    """Join this run's process group (once; a no-op for one process) and return the `World`.

    Backend: NCCL when training on GPUs, else gloo; either way a gloo side group with a long
    timeout carries objects and barriers. Lightning's DDP/FSDP strategies find the group made
    and use it."""
    import torch
    import torch.distributed as dist

    global _COORD_GROUP, _WORLD
    here = world()
    if here.size == 1 or (dist.is_initialized() and _COORD_GROUP is not None):
        return here
    _WORLD = here
    if here.launcher == "slurm":
        from lightning.fabric.plugins.environments import SLURMEnvironment

        slurm = SLURMEnvironment(auto_requeue=False)
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = slurm.main_address, str(slurm.main_port)
    gpu = accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    if gpu:
        torch.cuda.set_device(here.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if gpu else "gloo", rank=here.rank, world_size=here.size)
    _COORD_GROUP = dist.new_group(backend="gloo", timeout=COORDINATION_TIMEOUT)
    log.info("rank %d of %d joined the process group (%s)", here.rank, here.size, dist.get_backend())
    return here


def _coordinating() -> bool:
    import torch.distributed as dist

    return world().size > 1 and dist.is_available() and dist.is_initialized()


_CALLS = [0]


def _trace(kind: str) -> None:
    if os.environ.get("VRL_TRACE_COLLECTIVES"):
        import traceback

        _CALLS[0] += 1
        where = " <- ".join(f"{f.name}:{f.lineno}" for f in traceback.extract_stack()[-5:-2])
        print(f"[coll rank{world().rank} #{_CALLS[0]} {kind}] {where}", file=sys.stderr, flush=True)


def barrier() -> None:
    """Every rank waits here for the others (long timeout: rank 0 may be making the data)."""
    _trace("barrier")
    if _coordinating():
        import torch.distributed as dist

        dist.barrier(group=_COORD_GROUP)


def gather_objects(obj: T) -> list[T]:
    """`obj` of every rank, in rank order, on every rank (`[obj]` for one process)."""
    _trace("gather")
    if not _coordinating():
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * world().size
    dist.all_gather_object(out, obj, group=_COORD_GROUP)
    return out


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank `src`'s `obj` on every rank."""
    if not _coordinating():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src, group=_COORD_GROUP)
    return box[0]


def any_rank(flag: bool) -> bool:
    """True on every rank if `flag` is True on any (e.g. a signal that reached one rank)."""
    return any(gather_objects(bool(flag)))


@contextmanager
def rank_zero_first() -> Iterator[None]:
    """Rank 0 runs the block first (downloads, builds), then the others (who find it done; if
    rank 0 failed, they run it too and fail the same way instead of waiting forever)."""
    zero = is_rank_zero()
    if not zero:
        barrier()
    try:
        yield
    finally:
        if zero:
            barrier()


def shard(items: Sequence[T], rank: int, size: int) -> list[T]:
    """Rank `rank`'s contiguous share of `items` (sizes differ by at most one; concatenating the
    shares in rank order gives `items` back: nothing dropped, nothing twice)."""
    start, stop = shard_bounds(len(items), rank, size)
    return list(items[start:stop])


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """[start, stop) of rank `rank`'s share of n items (the first n % size ranks get one more)."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)
