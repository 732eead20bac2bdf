"""The RL update's gradient clip: one global norm serves the log and the clip where Lightning's
precision plugin would clip plainly; the plugin clips otherwise. Real modules, optimizers and
Lightning plugins; the LightningModule around them is reduced to the attributes the mixin reads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.plugins.precision import HalfPrecision, MixedPrecision, Precision
from lightning.pytorch.plugins.precision.deepspeed import DeepSpeedPrecision
from lightning.pytorch.plugins.precision.fsdp import FSDPPrecision

from vrl.rl.update import PolicyUpdate, _clips_plainly


def _stepped(scale: float) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    (model(torch.randn(5, 4)).sum() * scale).backward()
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def _global_norm(model: torch.nn.Module) -> float:
    return float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())


def _update(max_norm: float, precision: Precision) -> SimpleNamespace:
    plugin_calls: list[float] = []

    def clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm):  # LightningModule's
        plugin_calls.append(gradient_clip_val)
        precision.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    return SimpleNamespace(
        settings=SimpleNamespace(gradient_clip_val=max_norm),
        trainer=SimpleNamespace(precision_plugin=precision),
        clip_gradients=clip_gradients,
        plugin_calls=plugin_calls,
    )


@pytest.mark.parametrize("precision", [Precision(), HalfPrecision("bf16-true")])
def test_one_norm_logs_and_clips_under_plain_precision(precision: Precision) -> None:
    model, optimizer = _stepped(scale=10.0)
    before = _global_norm(model)
    assert before > 1.0
    update = _update(1.0, precision)
    logged = PolicyUpdate._clip_gradients_by_norm(update, optimizer)
    assert logged == pytest.approx(before, rel=1e-6)  # the norm before clipping
    assert _global_norm(model) == pytest.approx(1.0, rel=1e-4)  # clipped to max_norm
    assert update.plugin_calls == []  # no second norm through Lightning


def test_gradients_below_the_bound_and_no_clipping_stay_as_they_are() -> None:
    for max_norm, scale in ((100.0, 1.0), (0.0, 10.0)):
        model, optimizer = _stepped(scale)
        grads = [p.grad.clone() for p in model.parameters()]
        logged = PolicyUpdate._clip_gradients_by_norm(_update(max_norm, Precision()), optimizer)
        assert logged == pytest.approx(_global_norm(model), rel=1e-6)
        assert all(torch.equal(a, p.grad) for a, p in zip(grads, model.parameters()))


def test_amp_plugin_clips_itself_after_the_norm_is_logged() -> None:
    model, optimizer = _stepped(scale=10.0)
    before = _global_norm(model)
    update = _update(1.0, MixedPrecision("bf16-mixed", "cpu"))
    logged = PolicyUpdate._clip_gradients_by_norm(update, optimizer)
    assert logged == pytest.approx(before, rel=1e-6)
    assert update.plugin_calls == [1.0]
    assert _global_norm(model) == pytest.approx(1.0, rel=1e-4)


def test_which_plugins_clip_plainly() -> None:
    assert _clips_plainly(Precision()) and _clips_plainly(HalfPrecision("bf16-true"))
    # AMP checks for fused optimizers, FSDP1 needs its sharded norm, DeepSpeed clips in its engine.
    for kind in (MixedPrecision, FSDPPrecision, DeepSpeedPrecision):
        assert not _clips_plainly(kind.__new__(kind))
