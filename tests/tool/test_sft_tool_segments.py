"""SFT on tool trajectories: tool output (and its image tokens) masked out, its pixels in the batch."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image

from vrl.data.procedural import generate
from vrl.sft.collate import SFTCollator, pad_batch, response_segments

CALL = "<code>\n```python\nprint(1)\n```\n</code>"


@pytest.fixture(scope="module")
def processor(tiny_models):
    corpus = [generate("count", i).question for i in range(8)] + [CALL, "<sandbox_output></sandbox_output>"]
    return tiny_models.processor(corpus)


def _tool_sample(images=1):
    sample = generate("count", 3)
    return dataclasses.replace(
        sample,
        response=[
            {"text": CALL, "trainable": True},
            {"text": "<sandbox_output><image></sandbox_output>", "trainable": False},
            {"text": f"<answer>{sample.answer}</answer>", "trainable": True},
        ],
        response_images=[Image.new("RGB", (56, 56), "red")] * images,
    )


def test_tool_output_and_its_image_tokens_are_masked_out(processor):
    sample = _tool_sample()
    example = SFTCollator(processor, "{answer}").encode(sample)
    ids, mask = example["input_ids"].tolist(), example["loss_mask"].tolist()
    trained = processor.tokenizer.decode([i for i, m in zip(ids, mask) if m == 1])
    assert trained == f"{CALL}<answer>{sample.answer}</answer><|im_end|>\n"
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    prompt_len = mask.index(1)
    response_pads = [m for i, m in zip(ids[prompt_len:], mask[prompt_len:]) if i == image_pad]
    assert len(response_pads) == 4 and set(response_pads) == {0}  # 56x56 -> 4 tokens, all untrained
    assert example["image_grid_thw"].shape[0] == 2  # the prompt's image, then the sandbox's
    assert example["mm_token_type_ids"].sum() == sum(i == image_pad for i in ids)
    batch = pad_batch([example, SFTCollator(processor, "{answer}").encode(generate("count", 1))], 0)
    patches = int(batch["image_grid_thw"].prod(-1).sum())
    assert batch["pixel_values"].shape[0] == patches and torch.equal(
        batch["loss_mask"][0], example["loss_mask"]
    )


def test_a_cut_never_splits_an_image(processor):
    sample = _tool_sample()
    full = SFTCollator(processor, "{answer}").encode(sample)
    prompt_len = int(full["loss_mask"].tolist().index(1))
    call_len = len(processor.tokenizer(CALL, add_special_tokens=False)["input_ids"])
    cut = SFTCollator(processor, "{answer}", max_length=prompt_len + call_len + 3).encode(sample)
    assert cut["input_ids"].shape[0] == prompt_len + call_len  # the image segment did not fit: dropped
    assert cut["image_grid_thw"].shape[0] == 1


def test_placeholders_and_images_must_agree(processor):
    with pytest.raises(ValueError, match="placeholders"):
        response_segments(_tool_sample(images=2))
