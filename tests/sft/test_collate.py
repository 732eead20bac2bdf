"""SFT collation: the chat template's own tokens, and a loss mask that covers exactly the reply."""

import pytest
import torch

from vrl.data.procedural import generate
from vrl.sft.collate import ResponseSegment, SFTCollator, pad_batch


@pytest.fixture(scope="module")
def processor(tiny_models):
    samples = [generate("count", i) for i in range(8)]
    corpus = [s.question for s in samples] + [
        "\\boxed{1}",
        "\\boxed{2}",
        "\\boxed{3}",
        "\\boxed{4}",
        "tool said",
    ]
    return tiny_models.processor(corpus)


def _decode(processor, ids, mask, keep):
    return processor.tokenizer.decode([i for i, m in zip(ids.tolist(), mask.tolist()) if m == keep])


def test_only_the_reply_and_its_end_of_turn_are_trained_on(processor):
    sample = generate("count", 3)
    example = SFTCollator(processor, "\\boxed{{{answer}}}").encode(sample)
    trained = _decode(processor, example["input_ids"], example["loss_mask"], 1)
    assert trained == f"\\boxed{{{sample.answer}}}<|im_end|>\n"
    prompt = _decode(processor, example["input_ids"], example["loss_mask"], 0)
    assert prompt.endswith("<|im_start|>assistant\n") and "<|image_pad|>" in prompt
    assert example["input_ids"].shape == example["loss_mask"].shape == example["attention_mask"].shape


def test_untrainable_segments_are_masked_out(processor):
    sample = generate("count", 3)
    segments = [
        ResponseSegment("look "),
        ResponseSegment("tool said", trainable=False),
        ResponseSegment(" 3"),
    ]
    example = SFTCollator(processor, "{answer}").encode(sample, segments)
    assert _decode(processor, example["input_ids"], example["loss_mask"], 1) == "look  3<|im_end|>\n"
    assert "tool said" in _decode(processor, example["input_ids"], example["loss_mask"], 0)


def test_batch_is_right_padded_and_images_concatenated(processor):
    collator = SFTCollator(processor, "\\boxed{{{answer}}}")
    examples = [collator.encode(generate("count", i)) for i in range(3)]
    examples[1] = {k: (v[:-2] if v.dim() == 1 else v) for k, v in examples[1].items()}  # make one shorter
    batch = pad_batch(examples, processor.tokenizer.pad_token_id)
    assert batch["input_ids"].shape[0] == 3
    assert batch["loss_mask"][1, -2:].tolist() == [0, 0] and batch["attention_mask"][1, -2:].tolist() == [
        0,
        0,
    ]
    assert batch["image_grid_thw"].shape[0] == 3
    assert torch.equal(batch["pixel_values"], torch.cat([e["pixel_values"] for e in examples]))


def test_max_length_cuts_the_response_never_the_prompt(processor):
    sample = generate("count", 3)
    full = SFTCollator(processor, "\\boxed{{{answer}}} and a long explanation").encode(sample)
    prompt_len = int((full["loss_mask"] == 0).sum())
    cut = SFTCollator(
        processor, "\\boxed{{{answer}}} and a long explanation", max_length=prompt_len + 2
    ).encode(sample)
    assert cut["input_ids"].shape[0] == prompt_len + 2 and int(cut["loss_mask"].sum()) == 2
