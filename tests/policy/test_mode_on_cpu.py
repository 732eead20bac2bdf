"""Train/eval switches written as flags (`vrl.policy.mode`) leave every module exactly as
`nn.Module.train` / `eval` would, and defer to a module's own `train` where it does more."""

from __future__ import annotations

import pytest
import torch

from vrl.policy.mode import evaluating, set_training


def _flags(model: torch.nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def test_flags_match_torchs_switch_on_the_tiny_vlm(tiny) -> None:
    model, reference = tiny.model, tiny.model.__class__(tiny.model.config)
    assert len(list(model.modules())) > 20
    for mode in (False, True, False):
        set_training(model, mode)
        reference.train(mode)
        assert _flags(model) == _flags(reference) == [mode] * len(_flags(model))


def test_evaluating_restores_the_mode_it_found_and_dropout_follows() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5))
    x = torch.ones(4, 8)
    with evaluating(model):
        assert _flags(model) == [False] * 3
        assert torch.equal(model(x), model(x))  # no dropout in eval
    assert _flags(model) == [True] * 3
    assert not torch.equal(model(x), model(x))
    model.eval()
    with evaluating(model):
        pass
    assert _flags(model) == [False] * 3  # found in eval: left in eval
    with pytest.raises(RuntimeError), evaluating(model.train()):
        raise RuntimeError("rollout failed")
    assert _flags(model) == [True] * 3  # restored after an error too


def test_a_module_with_its_own_train_is_switched_by_it() -> None:
    class Counting(torch.nn.Linear):
        calls: list[bool] = []

        def train(self, mode: bool = True):  # e.g. a wrapper that syncs state on switches
            Counting.calls.append(mode)
            return super().train(mode)

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), Counting(2, 2))
    set_training(model, False)
    assert Counting.calls == [False] and _flags(model) == [False] * 3


def test_shared_submodules_are_switched_once() -> None:
    shared = torch.nn.Linear(2, 2)
    model = torch.nn.Sequential(shared, torch.nn.Sequential(shared))
    set_training(model, False)
    assert _flags(model) == [False] * 3
