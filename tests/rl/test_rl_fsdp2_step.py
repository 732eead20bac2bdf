"""One RL step under FSDP2 on one device (vrl's `fsdp2` strategy, hf rollouts with images,
gradient checkpointing): every trainable weight moves, stays finite, and streams out as it is.
On CPU in float32 (the hf engine's `generate` under `fully_shard`), and on CUDA in bf16 (gpu lane)."""

from __future__ import annotations

import pytest
import torch
from vrl_testing import brevity, component, hf_engine, inline_reward

from vrl.model import TinyQwen25VL
from vrl.rethink import NoRethink
from vrl.rl.data import RLDataModule
from vrl.rl.module import RLModule
from vrl.rl.settings import RLSettings
from vrl.rollout.weight_stream import stream_weights
from vrl.trainer import TrainerSettings

CUDA = pytest.param(
    "cuda",
    marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")],
)
WRAP = [
    "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl.Qwen2_5_VLDecoderLayer",
    "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl.Qwen2_5_VLVisionBlock",
]


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_one_fsdp2_rl_step_moves_every_weight(tiny_dir, train_dir, tmp_path, device):
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    loaded = TinyQwen25VL(dtype=str(dtype).removeprefix("torch."), gradient_checkpointing=True).load(
        str(tiny_dir)
    )
    before = {n: p.detach().clone() for n, p in loaded.model.named_parameters() if p.requires_grad}
    reward = inline_reward()
    reward.functions["brevity"], reward.weights["brevity"] = brevity, 1.0
    module = RLModule(
        loaded.model,
        loaded.processor,
        hf_engine(max_new_tokens=16, temperature=1.0, top_p=1.0),
        reward,
        component("algorithm", "dr_grpo"),
        component("replay", "none"),
        NoRethink(),
        RLSettings(prompts_per_step=4, group_size=4, max_steps=1, lr=1e-2, micro_batch_size=8),
    )
    settings = TrainerSettings(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        strategy="fsdp2",
        precision="bf16-true" if device == "cuda" else "32-true",
        enable_progress_bar=False,
        fsdp_wrap_layers=WRAP,
    )
    trainer = settings.build(
        max_steps=-1, max_epochs=-1, logger=False, enable_checkpointing=False, default_root_dir=str(tmp_path)
    )
    trainer.fit(module, datamodule=RLDataModule(train_dir, 4, seed=0))
    assert module.rl_step == 1

    after = dict(stream_weights(module.model))
    assert set(before) <= set(after)
    for name, old in before.items():
        new = after[name]
        assert new.device.type == device and new.dtype == dtype, name
        assert torch.isfinite(new.float()).all(), name
        assert not torch.equal(new.cpu(), old.cpu()), f"{name} did not move"
