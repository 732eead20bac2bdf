"""Hydra's partials of vrl's functions reach the trainer as plain `functools.partial`s."""

from __future__ import annotations

import functools

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from vrl_testing import component, inline_reward

from vrl.partials import plain_partial


def _hydra_partial(target: str, **kwargs):
    return instantiate(OmegaConf.create({"_target_": target, "_partial_": True, **kwargs}))


def test_a_vrl_function_becomes_a_plain_partial_with_the_same_results():
    hydra_loss = _hydra_partial("vrl.algorithm.ppo_clip_loss", eps_low=0.1, eps_high=0.3)
    assert type(hydra_loss) is not functools.partial  # Hydra 1.3.8: re-authorized on every call
    plain = plain_partial(hydra_loss)
    assert type(plain) is functools.partial
    assert (plain.func, plain.args, plain.keywords) == (hydra_loss.func, hydra_loss.args, hydra_loss.keywords)
    generator = torch.Generator().manual_seed(0)
    args = [torch.randn(3, 4, generator=generator) for _ in range(2)] + [torch.randn(3), torch.ones(3, 4)]
    (mine, mine_metrics), (theirs, theirs_metrics) = plain(*args), hydra_loss(*args)
    torch.testing.assert_close(mine, theirs, atol=0, rtol=0)
    assert mine_metrics.keys() == theirs_metrics.keys()


def test_other_functions_and_plain_callables_are_left_as_they_are():
    foreign = _hydra_partial("statistics.fmean")
    assert plain_partial(foreign) is foreign  # a user's own target keeps Hydra's checks
    plain = functools.partial(sum, start=1)
    assert plain_partial(plain) is plain and plain_partial(len) is len


def test_the_algorithm_and_the_reward_pool_hold_plain_partials():
    algorithm = component("algorithm", "dr_grpo")
    for fn in (algorithm.advantage, algorithm.policy_loss, algorithm.aggregation):
        assert type(fn) is functools.partial, fn
    assert type(inline_reward().functions["accuracy"]) is functools.partial
    assert type(component("rethink", "forced").accuracy_fn) is functools.partial
