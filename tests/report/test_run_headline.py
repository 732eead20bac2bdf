"""The run's terminal table shows each stage's headline metrics, not its first keys alphabetically."""

from __future__ import annotations

from vrl.report.summary import headline_keys


def test_headline_keys_pick_what_people_look_at_first():
    rl = {
        "replay/buffer_size": 0.0,
        "replay/evicted": 0.0,
        "replay/effective_ratio": 0.5,
        "rollout/reward_mean": 0.4,
        "reward/accuracy/mean": 0.4,
        "train/loss": 0.1,
        "rl/steps": 2.0,
    }
    assert headline_keys(rl) == [
        "rollout/reward_mean",
        "reward/accuracy/mean",
        "replay/effective_ratio",
        "train/loss",
        "rl/steps",
    ]
    evaluation = {
        "eval/b/accuracy": 50.0,
        "eval/b/accuracy/chart": 10.0,
        "eval/b/chance": 20.0,
        "eval/a/accuracy": 1.0,
    }
    assert headline_keys(evaluation) == ["eval/a/accuracy", "eval/b/accuracy"], (
        "overall accuracy, not per group"
    )
    assert headline_keys({"z": 1.0, "a": 2.0, "m": 3.0}, n=2) == ["a", "m"], (
        "a stage with none: the first keys"
    )
