"""One real RL step with the zoom tool: RLModule + Lightning Trainer, the engine running the tool loop."""

from __future__ import annotations

import csv

import pytest
import torch
from datasets import Dataset
from vrl_testing import component, fit_rl, inline_reward

from vrl.data.schema import hf_features
from vrl.policy.sampling import Sampling
from vrl.rethink import NoRethink
from vrl.rl.module import RLModule
from vrl.rl.settings import RLSettings
from vrl.rollout import HFRolloutEngine, ToolLoop
from vrl.tool import ZoomTool

pytestmark = pytest.mark.slow  # the tool_policy fixture fine-tunes the tiny model first


def test_one_grpo_step_with_zoom_calls_updates_the_policy(tool_policy, tool_samples, tmp_path):
    torch.manual_seed(0)  # sampling decides which responses call the tool: keep it reproducible
    model, processor = tool_policy.model, tool_policy.processor
    train_dir = tmp_path / "train"
    Dataset.from_list([tool_samples[0].to_record()] * 2, features=hf_features()).save_to_disk(str(train_dir))
    sampling = Sampling(max_new_tokens=64, temperature=1.2, top_p=1.0)
    engine = HFRolloutEngine(batch_size=2, sampling=sampling, tool_loop=ToolLoop(ZoomTool()))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    module = RLModule(
        model,
        processor,
        engine,
        inline_reward("deepeyes"),
        component("algorithm", "grpo"),
        component("replay", "none"),
        NoRethink(),
        RLSettings(group_size=6, max_steps=1, lr=1e-3, micro_batch_size=4),
    )
    fit_rl(module, train_dir, tmp_path, prompts_per_step=1)
    assert module.rl_step == 1
    stats = engine.last_stats
    assert stats["tool/calls_per_traj"] > 0, stats  # the taught policy calls the tool
    [row] = list(csv.DictReader((tmp_path / "csv" / "version_0" / "metrics.csv").open()))
    assert row["reward/deepeyes/mean"] != "" and row["train/loss"] != ""
    assert torch.isfinite(torch.tensor(float(row["train/loss"])))
    changed = [name for name, p in model.named_parameters() if not torch.equal(before[name], p.detach())]
    assert changed, "no parameter moved"
