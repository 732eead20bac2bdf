"""Image tensors of a policy forward: each distinct image is processed once, and the tensors are
exactly those of processing every row's image (the tiny model's real Qwen2-VL image processor)."""

from __future__ import annotations

import dataclasses

import torch
from PIL import Image

from vrl.data.procedural import generate
from vrl.policy.images import (
    ImageCache,
    PromptEncoding,
    encode_prompts,
    processed_images,
    row_image_inputs,
)


class CountingImageProcessor:
    """The real image processor, counting the images it is given."""

    def __init__(self, real) -> None:
        self.real, self.images = real, 0

    def __call__(self, images, **kwargs):
        self.images += len(images)
        return self.real(images=images, **kwargs)


def test_a_groups_shared_image_is_processed_once_and_the_tensors_are_unchanged(tiny):
    processor = tiny.processor
    one, two = generate("count", 1).images[0], generate("chart", 2).images[0]
    wide = Image.new("RGB", (112, 56), (10, 200, 30))  # another size: more patches than the others
    rows = [[one], [one], [two, wide], [one], [wide], [two, wide]]  # groups share image objects
    every = [image for row in rows for image in row]
    expected = processor.image_processor(images=every, return_tensors="pt")  # one by one

    counting = CountingImageProcessor(processor.image_processor)
    got = processed_images(type("P", (), {"image_processor": counting})(), every)

    assert counting.images == 3  # one, two, wide
    assert torch.equal(got["image_grid_thw"], expected["image_grid_thw"])
    assert torch.equal(got["pixel_values"], expected["pixel_values"])
    copies = [one.copy(), one.copy()]  # equal pixels, other objects: each processed
    assert (
        processed_images(type("P", (), {"image_processor": counting})(), copies)["image_grid_thw"].shape[0]
        == 2
    )
    assert counting.images == 5


def test_row_image_inputs_mark_image_tokens_and_carry_every_rows_images(tiny):
    model, processor = tiny.model, tiny.processor
    image = generate("color", 3).images[0]
    ids = torch.tensor([[1, model.config.image_token_id, 2], [model.config.image_token_id, 3, 4]])
    out = row_image_inputs(model, processor, [[image], [image]], ids)
    assert out["mm_token_type_ids"].tolist() == [[0, 1, 0], [1, 0, 0]]
    alone = processor.image_processor(images=[image], return_tensors="pt")
    assert torch.equal(out["pixel_values"], torch.cat([alone["pixel_values"]] * 2))
    assert out["image_grid_thw"].tolist() == alone["image_grid_thw"].tolist() * 2


def test_a_step_cache_takes_the_rollouts_tensors_and_later_passes_process_only_new_images(tiny):
    """The rollout's processor call fills the cache; a log-prob pass over the step's rows (and a
    micro-batch, a subset of them) processes only an image not seen yet (a tool's), and every
    pass gets the tensors of processing each row's images one by one."""
    processor = tiny.processor
    first, second = generate("count", 4), generate("chart", 5)
    cache = ImageCache()
    encode_prompts(processor, [first, second], cache=cache)
    assert len(cache) == 2 and first.images[0] in cache and second.images[0] in cache

    tool = Image.new("RGB", (84, 56), (200, 30, 10))  # a tool's image, inside one row's response
    rows = [first.images, first.images, second.images, [*second.images, tool]]
    counting = CountingImageProcessor(processor.image_processor)
    counted = type("P", (), {"image_processor": counting})()
    every = [image for row in rows for image in row]
    expected = processor.image_processor(images=every, return_tensors="pt")
    got = processed_images(counted, every, cache)
    assert counting.images == 1  # the tool image only
    assert torch.equal(got["pixel_values"], expected["pixel_values"])
    assert torch.equal(got["image_grid_thw"], expected["image_grid_thw"])

    micro = rows[3]  # a micro-batch of the same step: nothing left to process
    alone = processor.image_processor(images=micro, return_tensors="pt")
    got = processed_images(counted, micro, cache)
    assert counting.images == 1
    assert torch.equal(got["pixel_values"], alone["pixel_values"])
    assert torch.equal(got["image_grid_thw"], alone["image_grid_thw"])


def test_retain_keeps_the_given_images_entries_only_and_no_prompt_encoding(tiny):
    processor = tiny.processor
    first, second = generate("count", 4), generate("chart", 5)
    cache = ImageCache()
    encode_prompts(processor, [first, second], cache=cache)
    cache.put_prompts([first], "left", {"input_ids": torch.ones(1, 2)})
    pixel_values, grid = cache.get(first.images[0])
    cache.retain([first.images[0], Image.new("RGB", (56, 56))])  # an image it never held: ignored
    assert len(cache) == 1 and first.images[0] in cache and second.images[0] not in cache
    assert cache.get(first.images[0])[0] is pixel_values
    assert cache.pop_prompts([first], "left") is None
    cache.retain([])
    assert len(cache) == 0


def test_prompts_encoded_ahead_are_the_processors_encoding_and_fill_the_step_cache(tiny, samples):
    """`PromptEncoding` (what the RL prompt loader runs in its worker) gives, through the step's
    cache, exactly the engine's own `encode_prompts` of each chunk, the prompts' image tensors
    included; an encoding is used once, and only for the very sample objects it was made for."""
    processor = tiny.processor
    batch = list(samples[:5])
    encoding = PromptEncoding(processor, batch_size=2)
    ahead = encoding(batch)
    assert len(ahead) == 3  # chunks of 2, 2, 1: the engine's calls
    cache = ImageCache()
    encoding.keep(cache, batch, ahead)

    for start in range(0, 5, 2):
        chunk = batch[start : start + 2]
        expected = encode_prompts(processor, chunk, "left")
        counting = CountingProcessor(processor)
        got = encode_prompts(counting, chunk, "left", cache)
        assert counting.calls == 0, "the processor ran although the chunk was encoded ahead"
        assert set(got) == set(expected)
        for key in expected:
            assert torch.equal(got[key], expected[key]), key
        for image in (image for s in chunk for image in s.images):
            assert image in cache  # the log-prob passes and the update reuse them
    counting = CountingProcessor(processor)
    encode_prompts(counting, batch[:2], "left", cache)
    assert counting.calls == 1, "an encoding made ahead was used twice"
    other = ImageCache()
    encoding.keep(other, batch, ahead)
    copies = [dataclasses.replace(s) for s in batch[:2]]  # equal samples, other objects
    encode_prompts(counting, copies, "left", other)
    assert counting.calls == 2, "an encoding was used for other sample objects"


class CountingProcessor:
    """The real processor, counting its (text + images) calls."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, 0
        self.tokenizer, self.image_processor = real.tokenizer, real.image_processor

    def apply_chat_template(self, *args, **kwargs):
        return self.real.apply_chat_template(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)
