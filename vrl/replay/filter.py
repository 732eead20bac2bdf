"""`FilterReplay`: dynamic sampling (DAPO): drop groups whose rewards are all equal.

Such groups have zero advantage everywhere and only dilute the batch. The stage refills:

    kept = replay.select(batch, step)
    while replay.needs_more(len(kept)):
        kept += replay.select(score(rollout(next_prompts)), step)
    kept = kept[: replay.target_size]   # whole groups first; trim if it overshoots

`needs_more` stops after `max_rounds` rollouts in one step, so a saturated dataset cannot
loop forever; the step then trains on what it has.
"""

from __future__ import annotations

from typing import Any

from vrl.policy.trajectory import Trajectory
from vrl.replay.base import effectiveness_stats, groups


class FilterReplay:
    """Keep only groups whose rewards differ.

    Args:
        target_size: trajectories the stage wants per step; None = never ask for more.
        max_rounds: rollout batches allowed per step (the first one included).
        tol: rewards closer than this count as equal.
    """

    keeps_old_samples = False  # see vrl.replay.base.Replay

    def __init__(self, target_size: int | None = None, max_rounds: int = 3, tol: float = 1e-6) -> None:
        self.target_size = target_size
        self.max_rounds = max(1, int(max_rounds))
        self.tol = tol
        self.stats: dict[str, float] = {}
        self._step = -1
        self._rounds = 0

    def select(self, batch: list[Trajectory], step: int) -> list[Trajectory]:
        if step != self._step:
            self._step, self._rounds = step, 0
        self._rounds += 1
        kept: list[Trajectory] = []
        by_group = groups(batch)
        for members in by_group.values():
            rewards = [float(t.reward if t.reward is not None else 0.0) for t in members]
            if max(rewards) - min(rewards) > self.tol:
                kept.extend(members)
        self.stats = {
            **effectiveness_stats(batch),
            "replay/buffer_size": 0.0,
            "replay/replayed": 0.0,
            "replay/output_size": float(len(kept)),
            "replay/dropped_groups": float(len(by_group) - len(groups(kept))),
            "replay/rounds": float(self._rounds),
        }
        return kept

    def held(self) -> list[Trajectory]:
        return []  # a step's rounds only: nothing outlives it

    def needs_more(self, n: int) -> bool:
        return self.target_size is not None and n < self.target_size and self._rounds < self.max_rounds

    def state_dict(self) -> dict[str, Any]:
        return {"step": self._step, "rounds": self._rounds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._step, self._rounds = int(state["step"]), int(state["rounds"])
