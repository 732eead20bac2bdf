"""`SelectiveSampleReplay` (SSR, VL-Rethinker arXiv 2504.08837), as the paper
describes it (the released code computes the sampling but never applies it).

Each call, with B = len(batch) rollout trajectories (advantages set):
1. Drop samples with A = 0. Of the all-correct groups (equal rewards > 0), keep a random
   `pos_ratio` share of their samples as positives.
2. Output size K = round(output_fraction * B). Candidates = the effective samples + the
   positives. If there are more than K, draw K without replacement with
   P_j = |A_j|^alpha / sum_k |A_k|^alpha (positives, with A = 0, get weight `eps`, so they
   only fill slots the effective samples leave); otherwise take them all.
3. Slots still empty are drawn, without replacement, from the store of earlier steps'
   effective samples with P_j ~ |A_j| + eps.
4. Push this step's effective samples into the store (FIFO, `capacity`; None = B / 2).

Replayed trajectories keep the advantages and old log-probs they were sampled with, so the
PPO ratio corrects for their staleness. The store holds `Trajectory` objects (with their
`Sample` references): `state_dict` pickles them into the checkpoint with the generator state.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import torch

from vrl.errors import ConfigError
from vrl.policy.trajectory import Trajectory
from vrl.replay.base import advantage_of, effectiveness_stats, groups, is_effective


class SelectiveSampleReplay:
    """Advantage-prioritised selection with a FIFO store of effective samples.

    Args:
        alpha: priority exponent for the current step's draw (paper: 1).
        eps: floor added to |A| for the store draw, and the weight of positives (paper: 1e-4).
        capacity: store size in trajectories; None = half the rollout batch (paper).
        pos_ratio: share of all-correct samples kept as positives (paper: ~0.1).
        output_fraction: training batch size as a fraction of the rollout batch (paper: 0.5).
        seed: seed of the sampling generator (its state is checkpointed).
    """

    keeps_old_samples = True  # see vrl.replay.base.Replay
    target_size = None  # its own output_fraction sizes the batch

    def __init__(
        self,
        alpha: float = 1.0,
        eps: float = 1e-4,
        capacity: int | None = None,
        pos_ratio: float = 0.1,
        output_fraction: float = 0.5,
        seed: int = 0,
    ) -> None:
        checks = (
            ("output_fraction", 0.0 < output_fraction <= 1.0, "in (0, 1]"),
            ("alpha", alpha >= 0, ">= 0"),
            ("eps", eps > 0, "> 0"),
            ("capacity", capacity is None or capacity >= 1, ">= 1 or null"),
            ("pos_ratio", 0.0 <= pos_ratio <= 1.0, "in [0, 1]"),
        )
        for key, ok, rule in checks:
            if not ok:
                raise ConfigError(f"replay.{key}={locals()[key]} must be {rule}")
        self.alpha = alpha
        self.eps = eps
        self.capacity = capacity
        self.pos_ratio = pos_ratio
        self.output_fraction = output_fraction
        self.stats: dict[str, float] = {}
        self._store: deque[Trajectory] = deque()
        self._generator = torch.Generator().manual_seed(seed)

    def select(self, batch: list[Trajectory], step: int) -> list[Trajectory]:
        effective = [t for t in batch if is_effective(t)]
        positives = self._positives(batch)
        target = max(1, _round_half_up(self.output_fraction * len(batch))) if batch else 0

        candidates = effective + positives
        weights = [abs(advantage_of(t)) ** self.alpha for t in effective] + [self.eps] * len(positives)
        chosen = self._draw(candidates, weights, target)

        store = list(self._store)
        replayed = self._draw(store, [abs(advantage_of(t)) + self.eps for t in store], target - len(chosen))

        capacity = self.capacity if self.capacity is not None else max(1, len(batch) // 2)
        self._store.extend(effective)
        evicted = 0
        while len(self._store) > capacity:
            self._store.popleft()
            evicted += 1

        self.stats = {
            **effectiveness_stats(batch),
            "replay/buffer_size": float(len(self._store)),
            "replay/replayed": float(len(replayed)),
            "replay/positives": float(sum(not is_effective(t) for t in chosen)),
            "replay/evicted": float(evicted),
            "replay/output_size": float(len(chosen) + len(replayed)),
        }
        return chosen + replayed

    def _positives(self, batch: list[Trajectory]) -> list[Trajectory]:
        """A random `pos_ratio` share of the samples of all-correct groups (equal rewards > 0)."""
        pool = []
        for members in groups(batch).values():
            rewards = [t.reward if t.reward is not None else 0.0 for t in members]
            if min(rewards) > 0 and max(rewards) - min(rewards) <= 1e-6:
                pool.extend(members)
        keep = _round_half_up(self.pos_ratio * len(pool))
        if keep == 0:
            return []
        order = torch.randperm(len(pool), generator=self._generator)[:keep]
        return [pool[i] for i in order.tolist()]

    def _draw(self, items: list[Trajectory], weights: list[float], k: int) -> list[Trajectory]:
        """k items without replacement, P ~ weights (all of them when k >= len(items))."""
        if k <= 0 or not items:
            return []
        if k >= len(items):
            return list(items)
        probs = torch.tensor(weights, dtype=torch.float64)
        picked = torch.multinomial(probs, k, replacement=False, generator=self._generator)
        return [items[i] for i in picked.tolist()]

    def held(self) -> list[Trajectory]:
        return list(self._store)

    def needs_more(self, n: int) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"store": list(self._store), "generator": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._store = deque(state["store"])
        self._generator.set_state(state["generator"])


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)  # round() rounds 0.5 to even: 0.1 * 5 samples would keep none
