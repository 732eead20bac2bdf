"""PretrainedVLM: local checkpoints load through the same path as hub ones; clear path errors."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from vrl.errors import ConfigError, MissingFileError
from vrl.model import PretrainedVLM, QwenVLProcessor, TinyQwen25VL, check_model_path, load_vlm
from vrl.model.pretrained import looks_local


def test_loads_a_local_tiny_dir_like_a_real_checkpoint(tiny_dir, tiny):
    spec = PretrainedVLM(path=str(tiny_dir), dtype="float32", attn_implementation="sdpa")
    path = spec.resolve(tiny_dir.parent, corpus=[])
    loaded = spec.load(path)
    assert type(loaded.model) is type(tiny.model)
    assert isinstance(loaded.processor, QwenVLProcessor)
    assert loaded.path == str(tiny_dir) and spec.name == tiny_dir.name
    for (name, a), (_, b) in zip(loaded.model.state_dict().items(), tiny.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_dtype_is_applied(tiny_dir):
    loaded = load_vlm(str(tiny_dir), dtype="bfloat16")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_a_loaded_model_switches_modes_without_kernelizing(tiny_dir, monkeypatch):
    """transformers >= 5.25 loads with hub kernels on by default and kernelizes again at every
    train()/eval() switch (the RL step switches twice a step); vrl loads stock modules."""
    from transformers import PreTrainedModel

    model = load_vlm(tiny_dir, dtype="float32").model
    calls = []
    monkeypatch.setattr(PreTrainedModel, "set_use_kernels", lambda self, *a, **k: calls.append(a))
    model.train()
    model.eval()
    model.train()
    assert not getattr(model, "use_kernels", False) and calls == []


def test_missing_local_path_is_a_one_line_error_naming_model_path(tmp_path):
    missing = str(tmp_path / "nope" / "Qwen2.5-VL-7B-Instruct")
    with pytest.raises(MissingFileError, match=r"^model\.path=.*nope.* does not exist; ") as err:
        PretrainedVLM(path=missing).resolve(tmp_path, corpus=[])
    assert "\n" not in str(err.value)
    with pytest.raises(MissingFileError, match="model.path"):
        PretrainedVLM(path=missing).load(missing)


def test_local_dir_without_config_is_an_error(tmp_path):
    with pytest.raises(MissingFileError, match="no config.json"):
        check_model_path(str(tmp_path))


@pytest.mark.parametrize(
    ("path", "local"),
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", False),
        ("/ckpt/qwen", True),
        ("./ckpt", True),
        ("~/ckpt", True),
        ("outputs/run/ckpt", True),  # more than one "/" cannot be a hub id
    ],
)
def test_looks_local(path, local):
    assert looks_local(path) is local


def test_hub_ids_pass_through_unchanged(tmp_path):
    spec = PretrainedVLM(path="Qwen/Qwen2.5-VL-7B-Instruct")
    assert spec.resolve(tmp_path, corpus=[]) == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert spec.name == "Qwen2.5-VL-7B-Instruct"


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is not None, reason="flash-attn is installed")
def test_flash_attention_without_flash_attn_is_a_config_error(tiny_dir):
    with pytest.raises(ConfigError, match="model.attn_implementation=flash_attention_2"):
        load_vlm(str(tiny_dir), attn_implementation="flash_attention_2")


def test_bad_dtype_is_a_config_error(tiny_dir):
    with pytest.raises(ConfigError, match="model.dtype='fp8'"):
        TinyQwen25VL(dtype="fp8").load(str(tiny_dir))


def test_gradient_checkpointing_trains(tiny_dir, circles, user_turn):
    loaded = load_vlm(str(tiny_dir), dtype="float32", gradient_checkpointing=True)
    assert any(getattr(m, "gradient_checkpointing", False) for m in loaded.model.modules())
    text = loaded.processor.apply_chat_template(user_turn("How many?"), add_generation_prompt=True)
    batch = loaded.processor(
        text=[text, text], images=[circles(1), circles(3, 112)], padding=True, return_tensors="pt"
    )
    loaded.model.train()
    loss = loaded.model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss) and loaded.model.lm_head.weight.grad is not None
