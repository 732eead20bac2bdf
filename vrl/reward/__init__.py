"""Rewards: score decoded responses against their samples.

Contract (TRL's): a reward function is `fn(completions: list[str], **fields) -> list[float | None]`.
`fields` are lists aligned with `completions`: the `vrl.data.schema.Sample` fields (`answer`,
`answer_type`, `choices`, `category`, `id`, ...) plus the rollout's per-response flags
(`finished`: ended with EOS, `forced`: produced by forced rethinking); build them with
`vrl.policy.trajectory.reward_inputs`. A function names the fields it reads and swallows the
rest with `**_`. None means "no reward for this item" (not applicable, or it failed).

Functions here: `accuracy_reward` (last `\\boxed{}` / `<answer>`; math-verify for symbolic and
numeric answers, normalised strings for words and option letters), `choice_reward`,
`think_answer_format`, `boxed_format`, `vlrethinker_reward`; for tool rollouts `code_exec_reward`
(V-Thinker: share of sandbox calls without error), `tool_bonus_reward` (DeepEyes: tool image
used and answer right), `consistency_reward` (V-Thinker: judge with a rule fallback). Tool
rewards read the per-response counts `tool_calls`, `tool_errors`, `tool_images`. The recipes'
own: `vthinker_accuracy_reward` and `vthinker_format` (V-Thinker's release: judge 0/1 -> -1/+1,
its format pattern), `deepeyes_reward` (DeepEyes' release, per data source) and
`deepeyes_format_reward`. Judges (`judge:` in a function's node) see the recipe's own prompt
(`vrl.reward.judge_prompts`); without one a labelled rule fallback decides (`vrl.reward.judged`).

Design: every `conf/reward/<name>.yaml` is one `RewardPool`, a weighted sum of named functions
(`functions:` name -> `_partial_` function, `weights:` name -> weight), so an experiment says
`reward: vlrethinker` and gets the paper's weights, and can still override one weight
(`reward.weights.format=0.2`). How the functions run is one node, `reward.pool`
(`PoolSettings`): warm worker processes (forkserver), each task under a time limit; a function that raises or times out gives None for
those items, is counted in the stats, and never stops training. No torch in this package: the
workers stay light and the stage turns `RewardOutput.total` into a tensor.
"""

from vrl.reward.accuracy import accuracy_reward
from vrl.reward.base import Reward, RewardOutput
from vrl.reward.choice import choice_reward
from vrl.reward.code_exec import code_exec_reward
from vrl.reward.consistency import consistency_reward
from vrl.reward.deepeyes import deepeyes_format_reward, deepeyes_reward
from vrl.reward.format import boxed_format, think_answer_format
from vrl.reward.pool import PoolSettings, RewardPool
from vrl.reward.tool_bonus import tool_bonus_reward
from vrl.reward.vlrethinker import vlrethinker_reward, vlrethinker_score
from vrl.reward.vthinker import vthinker_accuracy_reward, vthinker_format

__all__ = [
    "PoolSettings",
    "Reward",
    "RewardOutput",
    "RewardPool",
    "accuracy_reward",
    "boxed_format",
    "choice_reward",
    "code_exec_reward",
    "consistency_reward",
    "deepeyes_format_reward",
    "deepeyes_reward",
    "think_answer_format",
    "tool_bonus_reward",
    "vlrethinker_reward",
    "vlrethinker_score",
    "vthinker_accuracy_reward",
    "vthinker_format",
]
