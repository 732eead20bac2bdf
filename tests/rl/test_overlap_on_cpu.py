"""Overlapped rollout and update (`stage.rl.max_staleness=1`, `vrl.rl.overlap`): real RL steps of
the tiny model through Lightning, with a real rollout worker process."""

from __future__ import annotations

import copy
import csv
import os
import signal
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from vrl_testing import brevity, component, fit_rl, hf_engine, inline_reward

from vrl.errors import ConfigError
from vrl.policy.log_probs import response_log_probs
from vrl.rethink import NoRethink
from vrl.rl.module import RLModule
from vrl.rl.overlap import check_overlap
from vrl.rl.settings import RLSettings
from vrl.settings import SettingError
from vrl.trainer import TrainerSettings


def _module(tiny, max_steps: int, replay: str = "none", **algorithm) -> RLModule:
    reward = inline_reward()
    reward.functions["brevity"], reward.weights["brevity"] = brevity, 1.0
    tiny.model.train()
    return RLModule(
        tiny.model,
        tiny.processor,
        hf_engine(max_new_tokens=8, temperature=1.0, top_p=1.0),
        reward,
        component("algorithm", "grpo", **algorithm),
        component("replay", replay),
        NoRethink(),
        RLSettings(group_size=4, max_steps=max_steps, lr=1e-2, micro_batch_size=8, max_staleness=1),
    )


def _rows(root: Path) -> list[dict[str, str]]:
    rows = csv.DictReader((root / "csv" / "version_0" / "metrics.csv").open())
    return [row for row in rows if row.get("rollout/staleness")]


def _untimed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if not k.startswith(("timing_s/", "perf/"))} for r in rows]


class _BehaviourCheck(L.Callback):
    """Per step: the weights before the update, and the trained batch's old log-probs against
    the log-probs of those weights and of the step before's."""

    def __init__(self, model) -> None:
        self.copy = copy.deepcopy(model)
        self.weights: list[dict[str, torch.Tensor]] = []
        self.gaps: list[tuple[float, float]] = []  # (vs the weights before, vs this step's)

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.weights.append({k: v.detach().clone() for k, v in module.model.state_dict().items()})

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        trajectories, _ = module.last_rollouts
        old = [torch.tensor(t.old_log_probs) for t in trajectories]
        gaps = []
        for weights in (self.weights[max(0, len(self.weights) - 2)], self.weights[-1]):
            self.copy.load_state_dict(weights)
            values = response_log_probs(self.copy, module.processor, trajectories, module.temperature, 8)
            gaps.append(max(float((torch.tensor(v) - o).abs().max()) for v, o in zip(values, old)))
        self.gaps.append((gaps[0], gaps[1]))


def test_one_step_off_policy_trains_on_the_behaviour_policys_log_probs(tiny, train_dir, tmp_path):
    torch.manual_seed(0)
    module = _module(tiny, max_steps=3)  # one update per step: synchronous, the ratio would be 1
    check = _BehaviourCheck(tiny.model)
    fit_rl(module, train_dir, tmp_path, callbacks=[check])
    assert module.rl_step == 3 and module.data_position == 3 and module.groups_seen == 12

    rows = _rows(tmp_path)
    assert [float(r["rollout/staleness"]) for r in rows] == [0.0, 1.0, 1.0]
    # Step 0's batch was sampled with the weights it trains: ratio 1. Later ones one update
    # earlier: the ratio against their behaviour log-probs is not 1.
    ratios = [float(r["train/ratio_mean"]) for r in rows]
    assert abs(ratios[0] - 1) < 1e-4 and all(abs(r - 1) > 1e-4 for r in ratios[1:]), ratios
    # old_log_probs = the log-probs of the weights the worker sampled with (the step before's),
    # not of the weights the step trains.
    for step, (behaviour_gap, current_gap) in enumerate(check.gaps):
        assert behaviour_gap < 1e-4, (step, check.gaps)
        if step:
            assert current_gap > 1e-3, (step, check.gaps)
    for name in ("timing_s/worker_rollout", "timing_s/worker_logprob", "timing_s/prefetch", "train/loss"):
        assert all(r.get(name) for r in rows[:2]), name


class _StopAfter(L.Callback):
    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if module.rl_step >= self.steps:
            trainer.should_stop = True


def test_a_resumed_overlapped_run_ends_with_the_uninterrupted_runs_weights(tiny, train_dir, tmp_path):
    initial = {k: v.clone() for k, v in tiny.model.state_dict().items()}

    def run(root, steps_before_stop=None, ckpt=None):
        tiny.model.load_state_dict(initial)
        torch.manual_seed(0)
        module = _module(tiny, max_steps=4, replay="ssr", mini_batch_size=8)
        callbacks = [_StopAfter(steps_before_stop)] if steps_before_stop else []
        fit_rl(module, train_dir, root, ckpt=ckpt, callbacks=callbacks)
        return module, {k: v.clone() for k, v in tiny.model.state_dict().items()}

    _, straight = run(tmp_path / "straight")
    stopped, _ = run(tmp_path / "stopped", steps_before_stop=2)
    ckpt = tmp_path / "stopped" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=False)["vrl_rl"]
    assert stopped.rl_step == 2 and state["rl_step"] == 2
    in_flight = state["in_flight"]
    assert (in_flight.step, in_flight.weights_version) == (2, 1), "the checkpoint must hold batch 2"

    resumed, weights = run(tmp_path / "resumed", ckpt=ckpt)
    assert resumed.rl_step == 4
    assert weights.keys() == straight.keys()
    differ = [k for k in weights if not torch.equal(weights[k], straight[k])]
    assert not differ, f"resumed weights differ from the uninterrupted run's: {differ[:5]}"
    # The resumed run logs steps 2 and 3 as the straight run did (timings aside).
    assert _untimed(_rows(tmp_path / "resumed")) == _untimed(_rows(tmp_path / "straight"))[2:]


def test_max_staleness_refuses_what_it_does_not_support():
    with pytest.raises(SettingError, match=r"max_staleness=2 must be 0 \(synchronous\) or 1"):
        RLSettings(max_staleness=2)
    engine, cpu = hf_engine(temperature=1.0), TrainerSettings()
    replay, rethink = component("replay", "ssr"), NoRethink()
    check_overlap(1, engine, cpu, replay, rethink)  # supported
    check_overlap(0, object(), TrainerSettings(devices=2, strategy="ddp"), replay, rethink)  # off: no check
    cases = [
        ((object(), cpu, replay, rethink), "needs rollout=fast or hf"),
        ((engine, cpu, replay, component("rethink", "forced")), "cannot rethink"),
        ((engine, cpu, component("replay", "filter", target_size=16), rethink), "cannot do dynamic sampling"),
        ((engine, TrainerSettings(devices=2, strategy="ddp"), replay, rethink), "one trainer process on CPU"),
    ]
    for args, reason in cases:
        with pytest.raises(ConfigError, match=reason) as error:
            check_overlap(1, *args)
        assert str(error.value).startswith("stage.rl.max_staleness=1 ")
        assert str(error.value).endswith("or set stage.rl.max_staleness=0")


@pytest.mark.slow
def test_ctrl_c_mid_overlapped_rl_saves_the_in_flight_batch_and_resumes_bit_identical(tmp_path):
    """`python -m vrl` for real: Ctrl-C to the whole process group (the worker ignores it, the
    trainer saves a checkpoint holding the worker's batch), resume, compare with a straight run."""
    from test_exact_resume import _finish, _metrics, _start, _weights

    args = [
        "debug=smoke",
        "logger=csv",
        "stages=[data,sft,rl]",
        # enough steps after the first checkpoint that the Ctrl-C 0.3 s later lands mid-run
        # (at 12 a fast step ran out the stage first)
        "stage.rl.max_steps=30",
        "stage.rl.save_every_n_steps=3",
        "stage.rl.max_staleness=1",
        "trainer.enable_progress_bar=false",
    ]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run = _start(stopped, args)
    ckpt = stopped / "rl" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not ckpt.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the worker gets it too
    rc, output = _finish(run)
    assert rc == 130, output[-3000:]
    # (The reward pool's workers print a KeyboardInterrupt traceback on a group-wide Ctrl-C: not
    # this feature's, and they are not needed for the checkpoint.)
    assert "vrl/rollout/" not in output and "vrl/rl/" not in output, output[-3000:]
    assert output.count("\nvrl: stopped by SIGINT during stage rl after step") == 1, output[-3000:]
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["vrl_rl"]
    assert 1 <= state["rl_step"] < 30 and state["in_flight"].step == state["rl_step"]

    rc, output = _finish(_start(stopped, []))
    assert rc == 0, output[-3000:]
    rc, output = _finish(_start(straight, args))
    assert rc == 0, output[-3000:]
    assert _weights(stopped / "rl" / "model") == _weights(straight / "rl" / "model")
    assert _metrics(stopped / "rl") == _metrics(straight / "rl")
