"""The tiny Qwen2.5-VL: build, save, reload, forward/backward with images, batched generation."""

from __future__ import annotations

import json
import os

import pytest
import torch
from transformers import AutoModelForImageTextToText, Qwen2_5_VLForConditionalGeneration

from vrl.errors import ConfigError
from vrl.model import TinyQwen25VL


def test_build_writes_a_normal_hf_checkpoint(tiny_dir):
    files = set(os.listdir(tiny_dir))
    expected = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"}
    assert expected | {"tokenizer_config.json", "preprocessor_config.json", "chat_template.jinja"} <= files
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl"
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir)
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)


def test_resolve_reuses_an_existing_build(tiny_dir):
    before = (tiny_dir / "model.safetensors").stat().st_mtime_ns
    again = TinyQwen25VL().resolve(tiny_dir.parent, corpus=iter(()))  # empty corpus: not rebuilt
    assert again == str(tiny_dir)
    assert (tiny_dir / "model.safetensors").stat().st_mtime_ns == before


def test_size_and_special_tokens(tiny):
    n_params = sum(p.numel() for p in tiny.model.parameters())
    assert 3e5 < n_params < 1.5e6
    tok = tiny.processor.tokenizer
    assert len(tok) <= 512
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.padding_side == "left"
    for marker in ("<think>", "</answer>", "<|image_pad|>"):
        assert tok.tokenize(marker) == [marker]
    text = "<think>12 + 7 = 19</think><answer>19</answer>"
    assert tok.decode(tok(text)["input_ids"]) == text


def _batch(tiny, circles, user_turn, sizes=(56, 112, 84, 56, 112, 56, 84, 112)):
    messages = [user_turn("How many circles?" + " Think first." * (i % 3)) for i in range(len(sizes))]
    texts = [tiny.processor.apply_chat_template(m, add_generation_prompt=True) for m in messages]
    images = [circles(1 + i % 4, size) for i, size in enumerate(sizes)]
    return tiny.processor(text=texts, images=images, padding=True, return_tensors="pt")


def test_forward_backward_with_images(tiny, circles, user_turn):
    batch = _batch(tiny, circles, user_turn)
    assert "mm_token_type_ids" in batch and batch["image_grid_thw"].shape == (8, 3)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    tiny.model.train()
    out = tiny.model(**batch, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    visual_grads = [p.grad for n, p in tiny.model.named_parameters() if "visual" in n]
    assert all(g is not None and torch.isfinite(g).all() for g in visual_grads)
    assert any(g.abs().sum() > 0 for g in visual_grads)  # gradient reaches the vision tower
    tiny.model.zero_grad(set_to_none=True)


def test_generate_batched_left_padded(tiny, circles, user_turn):
    batch = _batch(tiny, circles, user_turn, sizes=(56, 112, 84))
    assert (batch["attention_mask"][:, -1] == 1).all()  # left padding: every prompt ends at T
    tiny.model.eval()
    with torch.no_grad():
        out = tiny.model.generate(**batch, max_new_tokens=8, do_sample=True, top_k=0, temperature=1.0)
    prompt_len = batch["input_ids"].shape[1]
    assert out.shape[0] == 3 and prompt_len < out.shape[1] <= prompt_len + 8
    texts = tiny.processor.batch_decode(out[:, prompt_len:], skip_special_tokens=True)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)


def test_bad_mrope_section_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"model\.mrope_section=\[4, 4, 4\].*\[4, 6, 6\]") as err:
        TinyQwen25VL(mrope_section=(4, 4, 4))
    assert "\n" not in str(err.value)


def test_left_padding_does_not_change_next_token_logits(tiny, circles, user_turn):
    """A prompt's next-token distribution is the same alone and left-padded inside a batch
    (image placement and multimodal rope positions follow the attention mask)."""
    batch = _batch(tiny, circles, user_turn, sizes=(56, 112, 84))
    alone = _batch(tiny, circles, user_turn, sizes=(56,))
    tiny.model.eval()
    with torch.no_grad():
        batched_logits = tiny.model(**batch).logits[0, -1]
        alone_logits = tiny.model(**alone).logits[0, -1]
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]  # item 0 is padded
    torch.testing.assert_close(batched_logits, alone_logits, atol=1e-4, rtol=1e-4)
