"""QwenVLProcessor / load_processor: save and reload without torchvision, Hub layout, pixel budget."""

from __future__ import annotations

import json
import shutil

import pytest
from transformers import AutoProcessor
from transformers.utils import is_torchvision_available

from vrl.data.schema import Sample, chat_messages
from vrl.errors import ConfigError
from vrl.model import QwenVLProcessor, load_processor
from vrl.model import processor as processor_module

VISION = "<|vision_start|><|image_pad|><|vision_end|>"


def test_chat_template_renders_vision_tokens_and_generation_prompt(tiny, user_turn):
    text = tiny.processor.apply_chat_template(user_turn("How many?"), add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    assert f"<|im_start|>user\n{VISION}How many?<|im_end|>\n" in text
    assert text.endswith("<|im_start|>assistant\n")
    no_prompt = tiny.processor.apply_chat_template(user_turn("How many?"), add_generation_prompt=False)
    assert not no_prompt.endswith("<|im_start|>assistant\n")


def test_chat_template_accepts_schema_samples(tiny, circles):
    sample = Sample(
        id="t/0",
        images=[circles(1), circles(2)],
        prompt=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "A <image> or B <image>?"},
        ],
        answer="B",
    )
    text = tiny.processor.apply_chat_template(chat_messages(sample), add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert text.count(VISION) == 2


@pytest.mark.parametrize(("size", "tokens"), [(56, 4), (112, 16), (20, 4), (224, 16)])
def test_image_token_counts_follow_the_pixel_budget(tiny, circles, user_turn, size, tokens):
    text = tiny.processor.apply_chat_template(user_turn("?"), add_generation_prompt=True)
    batch = tiny.processor(text=[text], images=[circles(1, size)], return_tensors="pt")
    assert (batch["input_ids"] == tiny.processor.image_token_id).sum().item() == tokens
    assert batch["mm_token_type_ids"].sum().item() == tokens


def test_save_and_reload_through_the_subclass(tiny, tmp_path):
    tiny.processor.save_pretrained(tmp_path)
    # The stock class name is recorded (for machines with torchvision) ...
    assert (
        json.loads((tmp_path / "processor_config.json").read_text())["processor_class"]
        == "Qwen2_5_VLProcessor"
    )
    # ... which AutoProcessor cannot build without torchvision (video processor), hence the subclass.
    if not is_torchvision_available():
        with pytest.raises(ImportError, match="(?i)torchvision"):
            AutoProcessor.from_pretrained(tmp_path)
    again = load_processor(str(tmp_path))
    assert isinstance(again, QwenVLProcessor)
    assert again.chat_template == tiny.processor.chat_template
    assert again.tokenizer.get_vocab() == tiny.processor.tokenizer.get_vocab()
    assert dict(again.image_processor.size) == dict(tiny.processor.image_processor.size)


def test_loads_the_hub_layout_of_a_real_checkpoint(tiny_dir, tmp_path):
    """Qwen2.5-VL-7B-Instruct ships preprocessor_config.json (with min/max_pixels) and
    chat_template.json, and no processor_config.json / chat_template.jinja."""
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_dir / name, tmp_path / name)
    template = (tiny_dir / "chat_template.jinja").read_text()
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    preprocessor = {
        "min_pixels": 3136,
        "max_pixels": 12845056,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2_5_VLProcessor",
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    processor = load_processor(str(tmp_path))
    assert processor.chat_template == template
    assert processor.image_processor.size.longest_edge == 12845056
    processor = load_processor(str(tmp_path), min_pixels=256 * 28 * 28, max_pixels=1280 * 28 * 28)
    assert (processor.image_processor.size.shortest_edge, processor.image_processor.size.longest_edge) == (
        256 * 28 * 28,
        1280 * 28 * 28,
    )


def test_falls_back_to_the_pil_image_processor(tiny_dir, monkeypatch):
    def needs_torchvision(*args, **kwargs):
        raise ImportError("Qwen2VLImageProcessorFast requires the torchvision library")

    monkeypatch.setattr(processor_module.QwenVLProcessor, "from_pretrained", needs_torchvision)
    processor = load_processor(str(tiny_dir), max_pixels=56 * 56)
    assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    assert "<|image_pad|>" in processor.chat_template
    assert processor.image_processor.size.longest_edge == 56 * 56


def test_min_above_max_pixels_is_a_config_error(tiny_dir):
    with pytest.raises(ConfigError, match="model.min_pixels"):
        load_processor(str(tiny_dir), min_pixels=112 * 112, max_pixels=56 * 56)
