"""The comparison tables of a sweep, as pure functions of the jobs' overrides and final metrics.

- `swept_values`: the override keys whose value differs between jobs, and each job's values;
- `headline_metrics`: which final metrics a short table shows (eval accuracy, RL reward, ...);
- `spread` / `seed_groups`: mean, sample std and min-max over jobs that differ only by `seed`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

SEED = "seed"
# What a short table shows, in this order within a stage (`stage:` = any stage; see sweep.metric_key).
HEADLINE = (
    "eval/*/accuracy",
    "*:rollout/reward_mean",
    "*:reward/accuracy/mean",
    "*:replay/effective_ratio",
    "*:train/loss",
    "*:val/loss",
)


def split_override(override: str) -> tuple[str, str]:
    """`stage.sft.lr=1e-3` -> ("stage.sft.lr", "1e-3"); `+experiment=x` -> ("experiment", "x")."""
    key, sep, value = override.partition("=")
    key = key.strip()
    if not sep:  # `~key`: a deletion
        return key.lstrip("~"), "(deleted)"
    return key.lstrip("+~"), value.strip()


def swept_values(overrides: Sequence[Sequence[str]]) -> tuple[list[str], list[dict[str, str]]]:
    """The keys whose value is not the same in every job (first-seen order), and per job its
    value of each (`""` where the job does not set it)."""
    per_job = [dict(split_override(o) for o in job) for job in overrides]
    keys: list[str] = []
    for values in per_job:
        keys += [k for k in values if k not in keys]
    swept = [k for k in keys if len({values.get(k, "") for values in per_job}) > 1]
    return swept, [{k: values.get(k, "") for k in swept} for values in per_job]


def label(values: dict[str, str], fallback: str) -> str:
    """A job's name in a legend or column: its swept values, e.g. `stage.sft.lr=1e-3, seed=1`."""
    return ", ".join(f"{k}={v}" for k, v in values.items()) or fallback


def stage_of(key: str) -> str:
    return key.split(":", 1)[0] if ":" in key else key.split("/", 1)[0]


def headline_metrics(keys: Iterable[str], stages: Sequence[str], objective: str | None = None) -> list[str]:
    """The metrics among `keys` that match `HEADLINE` (and the sweep's `objective`), ordered by
    stage (`stages` order), then by `HEADLINE` order."""
    keys = set(keys)

    def rank(key: str) -> tuple[int, int, str]:
        stage = stage_of(key)
        where = stages.index(stage) if stage in stages else len(stages)
        pattern = next((i for i, p in enumerate(HEADLINE) if _matches(key, p)), len(HEADLINE))
        return where, pattern, key

    picked = {k for k in keys if any(_matches(k, p) for p in HEADLINE)}
    if objective and objective in keys:
        picked.add(objective)
    return sorted(picked, key=rank)


def short_metrics(headline: Sequence[str], stages: Sequence[str], objective: str | None, n: int) -> list[str]:
    """At most `n` of `headline` (in its order) for a short table: the objective first, then
    the later stages' metrics before the earlier ones' (eval before RL before SFT)."""

    def priority(key: str) -> tuple[bool, int, int]:
        stage = stage_of(key)
        return key != objective, -(stages.index(stage) if stage in stages else -1), headline.index(key)

    kept = set(sorted(headline, key=priority)[:n])
    return [k for k in headline if k in kept]


def _matches(key: str, pattern: str) -> bool:
    if pattern.startswith("*:"):
        return ":" in key and key.split(":", 1)[1] == pattern[2:]
    return ":" not in key and fnmatchcase(key, pattern) and key.count("/") == pattern.count("/")


@dataclass(frozen=True)
class Spread:
    """A metric over n jobs: mean, sample standard deviation (0 for one job), min, max."""

    n: int
    mean: float
    std: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread(0, math.nan, math.nan, math.nan, math.nan)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Spread(len(values), statistics.fmean(values), std, min(values), max(values))


@dataclass
class SeedGroup:
    values: dict[str, str]  # the swept values other than the seed, shared by the group
    seeds: list[str]
    metrics: dict[str, Spread] = field(default_factory=dict)


def seed_groups(
    values: Sequence[dict[str, str]],
    metrics: Sequence[dict[str, float]],
    names: Sequence[str],
) -> list[SeedGroup]:
    """Jobs grouped by their swept values other than `seed` (first-seen order), each metric of
    `names` summarised over the group's jobs that have it. Empty unless `seed` is swept and some
    group holds two jobs or more."""
    if not values or SEED not in values[0]:
        return []
    groups: dict[tuple[tuple[str, str], ...], SeedGroup] = {}
    members: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, job in enumerate(values):
        key = tuple((k, v) for k, v in job.items() if k != SEED)
        groups.setdefault(key, SeedGroup(dict(key), []))
        groups[key].seeds.append(job[SEED])
        members.setdefault(key, []).append(i)
    if all(len(group.seeds) < 2 for group in groups.values()):
        return []
    for key, group in groups.items():
        for name in names:
            found = [metrics[i][name] for i in members[key] if name in metrics[i]]
            group.metrics[name] = spread(found)
    return list(groups.values())


def fmt(value: float | None) -> str:
    """A metric as the tables print it: 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}"


def fmt_spread(s: Spread) -> str:
    """`mean ± std [min, max]`, or the one value for a single job."""
    if s.n == 0:
        return ""
    if s.n == 1:
        return fmt(s.mean)
    return f"{fmt(s.mean)} ± {fmt(s.std)} [{fmt(s.low)}, {fmt(s.high)}]"
