"""Image tensors of a policy forward: each distinct image is processed once, and the tensors are
exactly those of processing every row's image (the tiny model's real Qwen2-VL image processor)."""

from __future__ import annotations

import torch
from PIL import Image

from vrl.data.procedural import generate
from vrl.policy.images import ImageCache, encode_prompts, processed_images, row_image_inputs


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
