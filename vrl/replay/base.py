"""What a replay policy is, and the statistics every policy reports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from vrl.policy.trajectory import Trajectory

# |A| at or below this counts as a zero advantage (group-mean of equal rewards is exactly 0).
ZERO_ADVANTAGE = 1e-6


class Replay(Protocol):
    """Chooses the training batch from a step's scored trajectories (advantages set).

    `select` runs once per rollout batch, after advantages; `stats` then holds that call's
    `replay/...` metrics; `held` lists what a later `select` may return from earlier steps.
    `needs_more(n)` tells the stage whether to roll out more prompts for this step when it has
    `n` selected trajectories (dynamic sampling); only `FilterReplay` ever says yes.
    `state_dict` goes into checkpoints.
    """

    stats: dict[str, float]
    # True if `select` may return trajectories of earlier steps: they need the old log-probs
    # of the policy that sampled them, so the stage must compute those at sampling time.
    keeps_old_samples: bool
    # Trajectories the step trains on at most (dynamic sampling fills up to it); None = all.
    target_size: int | None

    def select(self, batch: list[Trajectory], step: int) -> list[Trajectory]: ...

    def held(self) -> Sequence[Trajectory]:
        """Trajectories a later `select` may return (the step keeps their processed images)."""
        ...

    def needs_more(self, n: int) -> bool: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def advantage_of(trajectory: Trajectory) -> float:
    if trajectory.advantage is None:
        raise ValueError(
            f"trajectory of group {trajectory.group_id} has no advantage: run replay after advantages"
        )
    return float(trajectory.advantage)


def is_effective(trajectory: Trajectory) -> bool:
    """Whether it carries a policy-gradient signal (non-zero advantage)."""
    return abs(advantage_of(trajectory)) > ZERO_ADVANTAGE


def groups(batch: Sequence[Trajectory]) -> dict[int, list[Trajectory]]:
    """group_id -> its trajectories, in batch order."""
    grouped: dict[int, list[Trajectory]] = defaultdict(list)
    for trajectory in batch:
        grouped[trajectory.group_id].append(trajectory)
    return dict(grouped)


def effectiveness_stats(batch: Sequence[Trajectory]) -> dict[str, float]:
    """`replay/effective_ratio`: share of samples with A != 0 (before replay);
    `replay/effective_query_ratio`: share of groups with at least one such sample (the
    VL-Rethinker curve: ~40% -> <20% without SSR). Where every sample has an `accuracy`
    reward part, also DAPO's `replay/solve_all_query_ratio` and `replay/solve_none_query_ratio`:
    shares of groups all correct / all wrong (accuracy > 0.5), the two kinds of A = 0 groups,
    so a falling effective ratio shows whether groups saturate or collapse."""
    if not batch:
        return {"replay/effective_ratio": 0.0, "replay/effective_query_ratio": 0.0}
    by_group = groups(batch)
    stats = {
        "replay/effective_ratio": sum(is_effective(t) for t in batch) / len(batch),
        "replay/effective_query_ratio": sum(any(is_effective(t) for t in g) for g in by_group.values())
        / len(by_group),
    }
    correct = [[_is_correct(t) for t in g] for g in by_group.values()]
    if all(c is not None for group in correct for c in group):
        stats["replay/solve_all_query_ratio"] = sum(all(group) for group in correct) / len(correct)
        stats["replay/solve_none_query_ratio"] = sum(not any(group) for group in correct) / len(correct)
    return stats


def _is_correct(trajectory: Trajectory) -> bool | None:
    """Whether its `accuracy` reward part says correct (> 0.5); None if it has none."""
    accuracy = trajectory.reward_parts.get("accuracy")
    return None if accuracy is None else accuracy > 0.5
