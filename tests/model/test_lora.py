"""LoRA (peft): adapters on the language model only; save_vlm writes merged, ordinary weights."""

from __future__ import annotations

import pytest
import torch

from vrl.errors import ConfigError
from vrl.model import load_vlm, save_vlm

pytest.importorskip("peft")

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "gate_proj"]}


@pytest.fixture(scope="module")
def lora_vlm(tiny_dir):
    return load_vlm(str(tiny_dir), dtype="float32", lora=LORA)


def test_lora_wraps_the_language_model_only(lora_vlm):
    trainable = [n for n, p in lora_vlm.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any("visual" in n for n in trainable)
    assert any("gate_proj" in n for n in trainable)


def test_save_merges_adapters_into_an_ordinary_checkpoint(lora_vlm, tiny, circles, user_turn, tmp_path):
    # Give the adapters a non-zero effect (B starts at zero), then compare outputs.
    with torch.no_grad():
        for name, p in lora_vlm.model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.05)
    text = tiny.processor.apply_chat_template(user_turn("How many?"), add_generation_prompt=True)
    batch = tiny.processor(text=[text], images=[circles(2)], return_tensors="pt")
    lora_vlm.model.eval()
    with torch.no_grad():
        expected = lora_vlm.model(**batch).logits
    save_vlm(lora_vlm, None, tmp_path)
    assert not (tmp_path / "adapter_config.json").exists()
    merged = load_vlm(str(tmp_path), dtype="float32")  # no peft needed to read it back
    assert not any("lora_" in n for n, _ in merged.model.named_parameters())
    merged.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(merged.model(**batch).logits, expected, atol=1e-4, rtol=1e-4)
    # The live model keeps its adapters (merge is out of place).
    assert any("lora_" in n for n, _ in lora_vlm.model.named_parameters())


def test_unknown_lora_key_is_a_config_error(tiny_dir):
    with pytest.raises(ConfigError, match=r"model\.lora has unknown key\(s\) \['rank'\]"):
        load_vlm(str(tiny_dir), dtype="float32", lora={"rank": 4})
