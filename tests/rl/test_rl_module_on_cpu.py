"""Three real RL steps of the tiny model through Lightning (GRPO + SSR + math_verify), and resume."""

from __future__ import annotations

import csv
import math
import os
import signal
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from vrl_testing import brevity, component, fit_rl, hf_engine, inline_reward

from vrl.policy.images import ImageCache
from vrl.policy.log_probs import response_log_probs
from vrl.policy.trajectory import Trajectory
from vrl.rethink import NoRethink
from vrl.rl.data import PromptStream, RLDataModule
from vrl.rl.module import RLModule
from vrl.rl.settings import RLSettings
from vrl.rollout.hf import HFRolloutEngine
from vrl.trainer import TrainerSettings


def _module(tiny, max_steps: int, rethink=None, replay=None) -> RLModule:
    reward = inline_reward()
    reward.functions["brevity"], reward.weights["brevity"] = brevity, 1.0
    tiny.model.train()
    return RLModule(
        tiny.model,
        tiny.processor,
        hf_engine(max_new_tokens=8, temperature=1.0, top_p=1.0),
        reward,
        component("algorithm", "grpo", mini_batch_size=4),
        replay or component("replay", "ssr"),
        rethink or NoRethink(),
        RLSettings(group_size=4, max_steps=max_steps, lr=1e-2, micro_batch_size=2),
    )


REQUIRED = [
    "train/loss",
    "train/pg_loss",
    "train/kl",
    "train/grad_norm",
    "rollout/response_length_mean",
    "rollout/reward_mean",
    "reward/accuracy/mean",
    "reward/brevity/mean",
    "replay/effective_ratio",
    "replay/buffer_size",
    "replay/replayed",
    "timing_s/rollout",
    "timing_s/reward",
    "timing_s/old_logprob",
    "timing_s/update",
    "perf/tokens_per_s",
]


def test_three_rl_steps_change_every_trained_parameter_and_log(tiny, train_dir, tmp_path):
    torch.manual_seed(0)
    module = _module(tiny, max_steps=3)
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    got_grad: set[str] = set()
    hooks = [
        p.register_hook(lambda g, name=n: got_grad.add(name) if g.abs().sum() > 0 else None)
        for n, p in module.model.named_parameters()
        if p.requires_grad
    ]
    trainer = fit_rl(module, train_dir, tmp_path)
    for hook in hooks:
        hook.remove()
    assert module.rl_step == 3 and module.data_position == 3
    assert module.reference is not None  # GRPO has a k3 KL to the initial policy
    assert got_grad, "no parameter received a gradient"
    unchanged = [n for n, p in module.model.named_parameters() if n in got_grad and torch.equal(p, before[n])]
    assert not unchanged, f"parameters with gradient that did not change: {unchanged}"
    ref_same = all(torch.equal(p, before[n]) for n, p in module.reference.named_parameters())
    assert ref_same, "the reference model must stay frozen"

    rows = list(csv.DictReader((tmp_path / "csv" / "version_0" / "metrics.csv").open()))
    logged = {k for row in rows for k, v in row.items() if v != ""}
    missing = [k for k in REQUIRED if k not in logged]
    assert not missing, f"not logged: {missing}"
    steps = sorted({int(row["step"]) for row in rows if row.get("rollout/reward_mean")})
    assert len(steps) == 3
    assert trainer.callback_metrics["rollout/responses"] == 16  # 4 prompts x n=4


def test_checkpoint_resume_restores_progress_replay_and_data_position(tiny, train_dir, tmp_path):
    torch.manual_seed(0)
    first = _module(tiny, max_steps=2)
    fit_rl(first, train_dir, tmp_path / "a")
    ckpt = tmp_path / "a" / "checkpoints" / "last.ckpt"
    assert ckpt.exists()
    state = torch.load(ckpt, weights_only=False)["vrl_rl"]
    assert state["rl_step"] == 2 and state["data_position"] == 2 and state["groups_seen"] == 8
    assert len(state["replay"]["store"]) == len(first.replay.state_dict()["store"])

    resumed = _module(tiny, max_steps=3)
    fit_rl(resumed, train_dir, tmp_path / "b", ckpt=ckpt)
    assert resumed.rl_step == 3 and resumed.data_position == 3 and resumed.groups_seen == 12


def test_prompts_encoded_ahead_by_loader_workers_train_exactly_as_the_engines_own(
    tiny_models, source, train_dir, tmp_path, monkeypatch
):
    """`stage.rl.num_workers`: the loader's workers read and encode the next batches while the
    trainer works; the run draws the same samples and ends with the same weights and metrics as
    one where the engine encodes each batch in the step, and the trainer's process never runs the
    processor on a prompt batch (two workers: they take turns, the batches stay in order)."""
    from transformers import ProcessorMixin

    calls = []
    real_call = ProcessorMixin.__call__

    def counted(self, *args, **kwargs):
        calls.append(os.getpid())
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(ProcessorMixin, "__call__", counted)
    runs = {}
    for workers in (None, 2):
        tiny = tiny_models.load(list(source.corpus()))
        torch.manual_seed(0)
        module = _module(tiny, max_steps=4)
        calls.clear()
        fit_rl(module, train_dir, tmp_path / str(workers), loader_workers=workers)
        here = calls.count(os.getpid())
        rows = list(csv.DictReader((tmp_path / str(workers) / "csv" / "version_0" / "metrics.csv").open()))
        runs[workers] = (module, here, rows)
    (plain, plain_calls, plain_rows), (ahead, ahead_calls, ahead_rows) = runs[None], runs[2]
    assert plain_calls == 4 and ahead_calls == 0  # one prompt batch a step, in the step or in a worker
    assert ahead.data_position == plain.data_position == 4
    for (name, mine), (_, theirs) in zip(ahead.model.named_parameters(), plain.model.named_parameters()):
        assert torch.equal(mine, theirs), name
    keys = ("rollout/reward_mean", "train/loss", "replay/effective_ratio")
    assert [[r[k] for k in keys] for r in ahead_rows if r["train/loss"]] == [
        [r[k] for k in keys] for r in plain_rows if r["train/loss"]
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR2, signal.SIGINT])
def test_a_prompt_loader_worker_outlives_a_stop_signal_sent_to_every_process(train_dir, signum):
    """SLURM signals every process of a job (Ctrl-C the process group): the loader's worker must
    leave the signal to the trainer, which checkpoints at the step end; a worker that died of it
    would make the next fetch raise in the trainer (PyTorch's check for dead workers)."""
    data = RLDataModule(train_dir, 4, seed=0, num_workers=1)
    data.setup()
    batches = iter(data.train_dataloader())
    first = next(batches)
    (worker,) = batches._workers
    os.kill(worker.pid, signum)
    time.sleep(0.5)  # the signal is delivered; a worker it killed is gone by now
    assert worker.is_alive(), f"the loader worker died of {signal.Signals(signum).name}"
    assert [next(batches)["position"] for _ in range(2)] == [first["position"] + 1, first["position"] + 2]
    del batches


def test_a_loader_iterator_alive_at_exit_does_not_hang_the_interpreter(train_dir, tmp_path):
    """Its worker ignores SIGTERM (as above), which multiprocessing's exit hook sends before it
    joins the worker: vrl stops such workers first (without that, this script never ends)."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "alive_at_exit.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        from vrl.rl.data import RLDataModule

        data = RLDataModule(sys.argv[1], 4, seed=0, num_workers=1)
        data.setup()
        loader = data.train_dataloader()
        batches = iter(loader)
        print(next(batches)["position"], flush=True)
        HELD_AT_EXIT = [loader, batches]  # as an uncollected cycle or a traceback would
    """)
    )
    import vrl

    env = {**os.environ, "PYTHONPATH": str(Path(vrl.__file__).parents[1])}  # this checkout's vrl
    done = subprocess.run(
        [sys.executable, str(script), str(train_dir)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0 and done.stdout.strip() == "0", done.stderr[-2000:]


def test_the_prompt_loader_hands_batches_over_through_wide_pipes(train_dir):
    """A prompt batch and its encoding (~1.4 MB) must not cross a 64 KiB pipe in ~20 turns: the
    loader's queues are 1 MiB pipes, and the batches still arrive whole and in order."""
    import fcntl

    from vrl.rl.data import PIPE_BYTES, wide_pipe_context

    queue = wide_pipe_context().Queue()
    assert fcntl.fcntl(queue._writer.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES == 1 << 20
    data = RLDataModule(train_dir, 4, seed=0, num_workers=1)
    data.setup()
    loader = data.train_dataloader()
    batches = iter(loader)
    assert fcntl.fcntl(batches._worker_result_queue._reader.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES
    expected = [[s.id for s in data.prompts_at(k)] for k in range(3)]
    assert [[s.id for s in next(batches)["samples"]] for _ in range(3)] == expected
    del batches


def test_prompt_stream_is_a_function_of_position(train_dir):
    from datasets import load_from_disk

    dataset = load_from_disk(str(train_dir))
    stream = PromptStream(dataset, batch_size=5, seed=3)
    first = [[s.id for s in b["samples"]] for b, _ in zip(stream, range(20))]
    assert len({i for batch in first[:12] for i in batch}) == 60  # no repeats within an epoch (64 rows)
    later = PromptStream(dataset, batch_size=5, seed=3, start=7)
    assert [s.id for s in next(iter(later))["samples"]] == first[7]


@pytest.mark.parametrize("group", ["reward", "algorithm", "rollout", "replay", "rethink"])
def test_rl_stage_check_refuses_a_missing_component_before_any_work(group, tmp_path):
    from vrl.components import Components
    from vrl.errors import ConfigError
    from vrl.stages import RLStage
    from vrl.stages.base import StageContext

    parts = {"model": object(), "reward": object(), "algorithm": object(), "replay": object()}
    parts |= {
        "rollout": hf_engine(),
        "rethink": NoRethink(),
        "trainer": TrainerSettings(),
        "logger": object(),
    }
    components = Components(**{**parts, group: None})
    context = StageContext(name="rl", run_dir=tmp_path, components=components, config={}, seed=0)
    with pytest.raises(ConfigError, match=f"the rl stage needs an? {group}: e.g. {group}="):
        RLStage(RLSettings()).check(context)


def test_rl_stage_check_refuses_greedy_rollouts_and_rethinking_a_tool_loop(tmp_path):
    from vrl.components import Components
    from vrl.errors import ConfigError
    from vrl.rethink import ForcedRethink
    from vrl.stages import RLStage
    from vrl.stages.base import StageContext

    parts = {"model": object(), "reward": object(), "algorithm": object(), "replay": object()}
    parts |= {"rethink": NoRethink(), "trainer": TrainerSettings(), "logger": object()}

    def check(**more):
        components = Components(**{**parts, **more})
        RLStage(RLSettings()).check(StageContext("rl", tmp_path, components, {}, 0))

    check(rollout=hf_engine(temperature=1.0))
    with pytest.raises(ConfigError, match="RL rollouts must sample"):
        check(rollout=hf_engine(temperature=0.0))
    loop = component("tool", "zoom")
    engine = hf_engine()
    engine.tool_loop = loop
    with pytest.raises(ConfigError, match="rethink=forced with a tool loop is not supported"):
        check(rollout=engine, rethink=ForcedRethink(always_right))


def always_right(completions, **fields):
    return [1.0 for _ in completions]


def test_a_step_with_forced_rethinking_logs_its_stats_and_fills_missing_old_log_probs(
    tiny, train_dir, tmp_path
):
    from vrl.rethink import ForcedRethink

    torch.manual_seed(0)
    rethink = ForcedRethink(
        always_right, skip_prob=0.0, truncate_prob=0.0, min_new_tokens=0, max_new_tokens=64
    )
    module = _module(tiny, max_steps=1, rethink=rethink)
    trainer = fit_rl(module, train_dir, tmp_path)
    assert module.rl_step == 1
    assert "rethink/attempt_rate" in trainer.callback_metrics
    assert "timing_s/rethink" in trainer.callback_metrics

    # a rethought response arrives without old log-probs: the module computes them
    [traj] = hf_engine().rollout(tiny.model, tiny.processor, [rethink_sample(train_dir)], n=1)
    assert traj.old_log_probs is None  # engines sample; the RL side computes log-probs
    expected = response_log_probs(tiny.model, tiny.processor, [traj], 1.0)[0]
    module._fill_old_log_probs([traj], ImageCache())
    assert traj.old_log_probs == pytest.approx(expected, abs=1e-5)


def rethink_sample(train_dir):
    from datasets import load_from_disk

    from vrl.data.schema import Sample

    return Sample.from_record(load_from_disk(str(train_dir))[0])


def test_dynamic_sampling_refills_from_the_stream_and_skips_spent_batches(tiny, train_dir, tmp_path):
    from vrl.replay import FilterReplay

    torch.manual_seed(0)
    module = _module(tiny, max_steps=2)
    module.replay = FilterReplay(target_size=24, max_rounds=2)  # one round yields at most 16
    trainer = fit_rl(module, train_dir, tmp_path)
    assert module.rl_step == 2
    assert module.data_position == 4 and module.groups_seen == 16  # two rounds of 4 prompts per step
    assert trainer.callback_metrics["replay/rounds"] == 2
    assert trainer.callback_metrics["rollout/responses"] == 32


def test_on_policy_step_skips_the_old_log_prob_pass_with_the_same_gradient(tiny, samples):
    """One PPO epoch, one mini-batch, no replay store: old log-probs come from the update's own
    forward (detached). The loss and gradient equal those with a separate eval-mode pass."""
    engine = hf_engine(max_new_tokens=6, temperature=1.0)
    settings = RLSettings(group_size=4, micro_batch_size=8)
    parts = (inline_reward(), component("algorithm", "dr_grpo", aux_nll_coef=0.0))
    module = RLModule(
        tiny.model, tiny.processor, engine, *parts, component("replay", "none"), NoRethink(), settings
    )
    assert not module._needs_old_log_probs_now
    replaying = RLModule(
        tiny.model, tiny.processor, engine, *parts, component("replay", "ssr"), NoRethink(), settings
    )
    assert replaying._needs_old_log_probs_now
    torch.manual_seed(0)
    trajectories = module.engine.rollout(tiny.model, tiny.processor, samples[:2], 4)
    for t, advantage in zip(trajectories, [1.0, -1.0, 0.5, -0.5] * 2):
        t.advantage = advantage
    totals = {
        "global_token_count": sum(sum(t.loss_mask) for t in trajectories),
        "global_seq_count": 8,
        "global_nll_token_count": 0,
    }
    nll = torch.zeros(8, dtype=torch.bool)

    def loss_and_grad():
        tiny.model.zero_grad()
        loss, _ = module._micro_batch_loss(trajectories, None, nll, totals, ImageCache())
        loss.backward()
        return float(loss.detach()), torch.cat(
            [p.grad.flatten() for p in tiny.model.parameters() if p.grad is not None]
        )

    skipped_loss, skipped_grad = loss_and_grad()  # fills old_log_probs from this forward
    filled = [list(t.old_log_probs) for t in trajectories]
    reference = response_log_probs(tiny.model, tiny.processor, trajectories, 1.0, 8)
    for row, ref in zip(filled, reference):
        assert row == pytest.approx(ref, abs=1e-4)
    for t, ref in zip(trajectories, reference):
        t.old_log_probs = ref
    full_loss, full_grad = loss_and_grad()
    assert skipped_loss == pytest.approx(full_loss, abs=1e-5)
    assert torch.allclose(skipped_grad, full_grad, atol=1e-5)


def _traj(n_tokens, *, sampling=None, old=None, mask=None):
    return Trajectory(
        0, 0, None, [1], [5] * n_tokens, mask or [1] * n_tokens, "", True,
        old_log_probs=old, sampling_log_probs=sampling,
    )  # fmt: skip


def test_engine_mismatch_counts_policy_tokens_of_trajectories_with_both_log_probs(tiny):
    module = _module(tiny, max_steps=1)
    ln = math.log
    trajectories = [
        # policy tokens: |ln 0.5 - ln 0.25| = ln 2 (|dp| 0.25), then 0 (|dp| 0); the tool token (mask 0)
        # holds the engine's unused 0.0 against a trainer value far off, and must not count
        _traj(3, sampling=[ln(0.5), 0.0, ln(0.8)], old=[ln(0.25), ln(1e-6), ln(0.8)], mask=[1, 0, 1]),
        _traj(1, sampling=[ln(0.2)], old=[ln(0.1)]),  # ln 2 (|dp| 0.1)
        _traj(2, sampling=None, old=[ln(0.1), ln(0.1)]),  # hf-like: no engine record
        _traj(2, sampling=[ln(0.9), ln(0.9)], old=None),  # no trainer value (yet)
    ]
    metrics = module._engine_mismatch(trajectories)
    assert set(metrics) == {f"rollout/{k}" for k in ("logprob_diff_mean", "logprob_diff_max")} | {
        f"rollout/prob_diff_{k}" for k in ("mean", "max", "std")
    }
    assert metrics["rollout/logprob_diff_mean"] == pytest.approx(
        2 * ln(2) / 3, abs=1e-6
    )  # (ln2 + 0 + ln2) / 3
    assert metrics["rollout/logprob_diff_max"] == pytest.approx(ln(2), abs=1e-6)
    assert metrics["rollout/prob_diff_mean"] == pytest.approx(0.35 / 3, abs=1e-6)
    assert metrics["rollout/prob_diff_max"] == pytest.approx(0.25, abs=1e-6)
    assert module._engine_mismatch(trajectories[2:3]) == {}  # no engine log-probs: nothing logged
    assert module._engine_mismatch(trajectories[3:]) == {}  # engine log-probs, no trainer's


class _ReportingEngine(HFRolloutEngine):
    """The hf engine, reporting its own log-probs as vLLM does: the trainer's minus 0.25 nats."""

    def sample_trajectories(
        self, model, processor, samples, n, sampling, step, first_group_id, image_cache=None
    ):
        out = super().sample_trajectories(
            model, processor, samples, n, sampling, step, first_group_id, image_cache
        )
        for t, row in zip(out, response_log_probs(model, processor, out, sampling.temperature)):
            t.sampling_log_probs = [x - 0.25 for x in row]
        return out


@pytest.mark.parametrize("on_policy", [False, True])
def test_a_step_logs_the_engine_mismatch_against_the_old_log_probs(tiny, train_dir, tmp_path, on_policy):
    torch.manual_seed(0)
    module = _module(tiny, max_steps=1)
    module.engine = _ReportingEngine(sampling=module.engine.sampling)
    if on_policy:  # step 5 skipped: the update's own forward fills the old log-probs
        module.algorithm, module.replay = component("algorithm", "dr_grpo"), component("replay", "none")
    assert module._needs_old_log_probs_now != on_policy
    metrics = fit_rl(module, train_dir, tmp_path).callback_metrics
    assert float(metrics["rollout/logprob_diff_mean"]) == pytest.approx(0.25, abs=1e-4)
    assert float(metrics["rollout/logprob_diff_max"]) == pytest.approx(0.25, abs=1e-4)
    assert 0 < float(metrics["rollout/prob_diff_mean"]) <= float(metrics["rollout/prob_diff_max"]) < 1


def _brevity_on_odd_questions(completions, question, **fields):
    return [-len(c) / 100 if len(q) % 2 else 0.0 for c, q in zip(completions, question)]


class _CountingImageProcessor:
    """The real image processor, recording which image objects it processes, and in which RL step."""

    def __init__(self, real, module) -> None:
        self.real, self.module, self.calls = real, module, []

    def __call__(self, images, **kwargs):
        self.calls += [(self.module.rl_step, image) for image in images]
        return self.real(images=images, **kwargs)

    def __getattr__(self, name):  # the processor reads the image processor's other attributes
        return getattr(self.real, name)


class _StepImages(L.Callback):
    """Every RL step's distinct image objects: its fresh rows' and the (maybe replayed) rows it trained on."""

    def __init__(self) -> None:
        self.steps: list[list] = []
        self.replayed = 0  # rows trained on at a later step than they were sampled

    def on_train_batch_end(self, trainer, module, *args) -> None:
        if len(self.steps) < module.rl_step:
            fresh, selected = module.last_rollouts
            self.replayed += sum(t.step < module.rl_step - 1 for t in selected)
            self.steps.append(list({id(i): i for t in fresh + selected for i in t.images}.values()))


def test_an_rl_run_processes_each_distinct_image_once_across_its_passes_and_steps(tiny, train_dir, tmp_path):
    """Rollout, old log-probs (SSR keeps old samples), reference (GRPO's KL) and the update's
    micro-batches of 2 share one processing of each image; rows SSR replays from an earlier step
    reuse that step's processing (the cache keeps the images of the rows the replay holds)."""
    torch.manual_seed(0)
    # A training batch as large as the rollout, and groups with equal rewards (zero advantage):
    # the slots they leave are filled from earlier steps' rows.
    module = _module(tiny, max_steps=3, replay=component("replay", "ssr", output_fraction=1.0))
    module.reward.functions["brevity"] = _brevity_on_odd_questions
    counting = _CountingImageProcessor(tiny.processor.image_processor, module)
    tiny.processor.image_processor = counting
    seen = _StepImages()
    fit_rl(module, train_dir, tmp_path, callbacks=[seen])
    assert len(seen.steps) == 3 and seen.replayed > 0
    processed = [image for _, image in counting.calls]  # held: no two of them share an id
    assert len(processed) == len({id(i) for i in processed}), "an image processed twice"
    earlier: set[int] = set()
    for step, images in enumerate(seen.steps):
        now = {id(image) for at, image in counting.calls if at == step}
        assert now == {id(i) for i in images} - earlier, f"step {step}"
        earlier |= now
    held = {id(i) for t in module.replay.held() for i in t.images}
    assert held and held <= set(module._images._entries)  # kept for the next step


def test_the_fast_engines_log_probs_are_the_old_log_probs_and_no_pass_runs_for_them(
    tiny, samples, train_dir, tmp_path, monkeypatch
):
    """`rollout=fast` scores each sampled token as the trainer would (`reports_policy_log_probs`):
    step 5 takes those numbers, runs no log-prob forward for them, and logs no mismatch (there is
    no second opinion); a step with SSR (which needs old log-probs) trains on them."""
    from vrl.rl import scoring

    module = _module(tiny, max_steps=1)
    module.engine = hf_engine(max_new_tokens=8, temperature=1.0, top_p=1.0, engine="fast")
    torch.manual_seed(0)
    trajectories = module.engine.rollout(tiny.model, tiny.processor, samples[:3], n=4)
    expected = response_log_probs(tiny.model, tiny.processor, trajectories, 1.0, 8)
    passes = []  # the policy's log-prob passes (the KL's reference passes are not counted)
    real_pass = scoring.response_log_probs

    def counted_pass(model, *args, **kwargs):
        if model is module.model:
            passes.append(len(args[1]))
        return real_pass(model, *args, **kwargs)

    monkeypatch.setattr(scoring, "response_log_probs", counted_pass)
    module._fill_old_log_probs(trajectories, ImageCache())
    assert passes == []
    for trajectory, row in zip(trajectories, expected, strict=True):
        assert trajectory.old_log_probs == pytest.approx(row, abs=1e-5)
    assert module._engine_mismatch(trajectories) == {}
    assert module._needs_old_log_probs_now  # SSR keeps old samples: step 5 is needed
    fit_rl(module, train_dir, tmp_path)
    assert module.rl_step == 1 and passes == []
