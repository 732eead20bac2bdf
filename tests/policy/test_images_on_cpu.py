"""Image tensors of a policy forward: each distinct image is processed once, and the tensors are
exactly those of processing every row's image (the tiny model's real Qwen2-VL image processor)."""

from __future__ import annotations

import torch
from PIL import Image

from vrl.data.procedural import generate
from vrl.policy.images import processed_images, row_image_inputs


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
