"""`Sampling`: checked values, overrides, and the one merge that every purpose goes through."""

from __future__ import annotations

import pytest

from vrl.errors import ConfigError
from vrl.policy.sampling import Sampling, check_overrides, merge
from vrl.settings import SettingError


def test_defaults_and_greedy():
    s = Sampling()
    assert (s.max_new_tokens, s.temperature, s.top_p, s.top_k, s.repetition_penalty, s.stop) == (
        1024,
        1.0,
        1.0,
        0,
        1.0,
        (),
    )
    assert not s.greedy and Sampling(temperature=0.0).greedy
    assert Sampling(stop=["</a>", "</b>"]).stop == ("</a>", "</b>")  # lists from YAML become tuples


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("max_new_tokens", 0, ">= 1"),
        ("temperature", -0.1, ">= 0"),
        ("top_p", 0.0, "in (0, 1]"),
        ("top_p", 2.0, "in (0, 1]"),
        ("top_k", -1, ">= 0"),
        ("repetition_penalty", 0.0, "> 0"),
    ],
)
def test_bad_values_name_the_field_and_the_rule(field, value, rule):
    with pytest.raises(
        SettingError, match=rf"sampling\.{field}={value!r} must be {rule}".replace("(", r"\(")
    ):
        Sampling(**{field: value})


def test_override_ignores_none_refuses_unknown_keys_and_checks_values():
    base = Sampling(max_new_tokens=8, temperature=1.0)
    assert base.override(temperature=None) is base
    assert base.override(temperature=0.0, top_p=0.5) == Sampling(max_new_tokens=8, temperature=0.0, top_p=0.5)
    with pytest.raises(ConfigError, match="sampling has no temprature"):
        base.override(temprature=0.0)
    with pytest.raises(SettingError, match="top_p=1.5"):
        base.override(top_p=1.5)


def test_merge_applies_layers_in_order_then_caps():
    rollout = Sampling(max_new_tokens=2048, temperature=1.0, top_p=0.95)
    eval_stage = {"temperature": 0.0}
    benchmark = {"max_new_tokens": 4096}
    assert merge(rollout, eval_stage, benchmark) == Sampling(max_new_tokens=4096, temperature=0.0, top_p=0.95)
    assert merge(rollout, eval_stage, benchmark, cap=16).max_new_tokens == 16
    assert merge(rollout, {"max_new_tokens": 8}, cap=16).max_new_tokens == 8  # a cap, not an override
    assert merge(rollout, {"temperature": 0.5}, {"temperature": 0.7}).temperature == 0.7  # later wins


def test_check_overrides_reports_where_the_overrides_are_configured():
    assert check_overrides("sampling", {"temperature": 0.0}) == {"temperature": 0.0}
    assert check_overrides("sampling", None) == {}
    with pytest.raises(SettingError) as bad_value:
        check_overrides("rethink.sampling", {"temperature": -1})
    assert str(bad_value.value) == "rethink.sampling.temperature=-1 must be >= 0 and finite (0 = greedy)"
    with pytest.raises(ConfigError, match=r"stage\.eval\.sampling has no topp"):
        raise check_overrides_error("stage.eval", {"topp": 1})


def check_overrides_error(prefix: str, overrides: dict) -> Exception:
    try:
        check_overrides("sampling", overrides)
    except SettingError as error:
        return error.at(prefix)
    raise AssertionError("expected an error")
