"""The sweep report's pure table functions, against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from vrl.report.document import Table, markdown_table, text_table
from vrl.report.table import (
    fmt,
    fmt_spread,
    headline_metrics,
    label,
    seed_groups,
    short_metrics,
    split_override,
    spread,
    swept_values,
)


def test_swept_values_keep_only_the_keys_that_differ():
    jobs = [
        ["debug=smoke", "stage.sft.lr=1e-3", "seed=0"],
        ["debug=smoke", "stage.sft.lr=2e-3", "seed=0"],
        ["debug=smoke", "stage.sft.lr=2e-3", "seed=1", "+experiment=x"],
    ]
    keys, values = swept_values(jobs)
    assert keys == ["stage.sft.lr", "seed", "experiment"]
    assert values == [
        {"stage.sft.lr": "1e-3", "seed": "0", "experiment": ""},
        {"stage.sft.lr": "2e-3", "seed": "0", "experiment": ""},
        {"stage.sft.lr": "2e-3", "seed": "1", "experiment": "x"},
    ]
    assert label(values[0], "job 0") == "stage.sft.lr=1e-3, seed=0, experiment="
    assert swept_values([["a=1"], ["a=1"]]) == ([], [{}, {}])
    assert label({}, "job 0") == "job 0"


def test_split_override_strips_the_prefixes_hydra_takes():
    assert split_override("+experiment=x") == ("experiment", "x")
    assert split_override("stages=[data,sft]") == ("stages", "[data,sft]")
    assert split_override("a.b=c=d") == ("a.b", "c=d")
    assert split_override("~logger") == ("logger", "(deleted)")


def test_spread_is_mean_sample_std_min_max():
    # 1, 2, 4: mean 7/3; deviations -4/3, -1/3, 5/3; squares 16/9 + 1/9 + 25/9 = 42/9; / (n-1) = 7/3.
    s = spread([1.0, 2.0, 4.0])
    assert (s.n, s.low, s.high) == (3, 1.0, 4.0)
    assert s.mean == pytest.approx(7 / 3)
    assert s.std == pytest.approx(math.sqrt(7 / 3))
    one = spread([5.0])
    assert (one.n, one.mean, one.std, one.low, one.high) == (1, 5.0, 0.0, 5.0, 5.0)
    assert spread([]).n == 0 and math.isnan(spread([]).mean)
    assert fmt_spread(spread([1.0, 3.0])) == "2 ± 1.414 [1, 3]"  # std of 1, 3 = sqrt(2)
    assert fmt_spread(one) == "5" and fmt_spread(spread([])) == ""


def test_seed_groups_summarise_each_setting_over_its_seeds():
    values = [
        {"lr": "1e-3", "seed": "0"},
        {"lr": "1e-3", "seed": "1"},
        {"lr": "2e-3", "seed": "0"},
        {"lr": "2e-3", "seed": "1"},
    ]
    metrics = [{"acc": 10.0, "loss": 1.0}, {"acc": 20.0, "loss": 3.0}, {"acc": 30.0}, {}]  # job 3 failed
    groups = seed_groups(values, metrics, ["acc", "loss"])
    assert [(g.values, g.seeds) for g in groups] == [
        ({"lr": "1e-3"}, ["0", "1"]),
        ({"lr": "2e-3"}, ["0", "1"]),
    ]
    first, second = groups
    assert (first.metrics["acc"].mean, first.metrics["acc"].low, first.metrics["acc"].high) == (
        15.0,
        10.0,
        20.0,
    )
    assert first.metrics["acc"].std == pytest.approx(math.sqrt(50))  # (25 + 25) / 1
    assert first.metrics["loss"].mean == 2.0 and first.metrics["loss"].std == pytest.approx(math.sqrt(2))
    assert (second.metrics["acc"].n, second.metrics["acc"].mean) == (1, 30.0)
    assert second.metrics["loss"].n == 0


def test_no_seed_groups_unless_seed_is_swept_and_repeated():
    assert seed_groups([{"lr": "1"}, {"lr": "2"}], [{"a": 1.0}, {"a": 2.0}], ["a"]) == []
    distinct = [{"lr": "1", "seed": "0"}, {"lr": "2", "seed": "1"}]
    assert seed_groups(distinct, [{"a": 1.0}, {"a": 2.0}], ["a"]) == []
    only_seeds = seed_groups([{"seed": "0"}, {"seed": "1"}], [{"a": 1.0}, {"a": 2.0}], ["a"])
    assert len(only_seeds) == 1 and only_seeds[0].values == {} and only_seeds[0].metrics["a"].mean == 1.5


def test_headline_metrics_follow_the_stages_and_keep_the_objective():
    keys = [
        "eval/bench/accuracy",
        "eval/bench/accuracy/chart",
        "eval:timing_s/eval/bench",
        "rl:rollout/reward_mean",
        "rl:train/loss",
        "rl:timing_s/step",
        "sft:val/loss",
        "sft:train/loss",
        "rl/steps",
    ]
    stages = ["data", "sft", "rl", "eval"]
    headline = headline_metrics(keys, stages, objective="rl/steps")
    assert headline == [
        "sft:train/loss",
        "sft:val/loss",
        "rl:rollout/reward_mean",
        "rl:train/loss",
        "rl/steps",
        "eval/bench/accuracy",
    ]
    # The objective first, then later stages before earlier ones; shown in the table's order.
    assert short_metrics(headline, stages, "rl/steps", 3) == [
        "rl:rollout/reward_mean",
        "rl/steps",
        "eval/bench/accuracy",
    ]


def test_tables_render_as_markdown_and_aligned_text():
    table = Table(["job", "lr", "acc"], [["0", "1e-3", fmt(12.5)], ["1", "a|b", fmt(7.0)]], numeric={0, 2})
    assert markdown_table(table) == [
        "| job | lr | acc |",
        "|---:|---|---:|",
        "| 0 | 1e-3 | 12.5 |",
        "| 1 | a\\|b | 7 |",
    ]
    assert text_table(table).splitlines() == [
        "job  lr     acc",
        "---  ----  ----",
        "  0  1e-3  12.5",
        "  1  a|b      7",
    ]
    assert fmt(None) == "" and fmt(math.nan) == "" and fmt(0.123456) == "0.1235"
