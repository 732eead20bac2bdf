"""The image side of a policy forward: processor inputs for prompts, and image tensors for rows.

`encode_prompts` builds generation inputs (chat template + generation prompt, images expanded
to their tokens). `row_image_inputs` gives the image keys of a forward over rows whose token
ids are already expanded (a training row: the prompt's images, then any a tool returned inside
the response, in token order): `pixel_values`, `image_grid_thw` from the processor's image
processor, and `mm_token_type_ids` marking the image tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from vrl.data.records import to_rgb
from vrl.data.schema import Sample, chat_messages


def encode_prompts(processor: Any, samples: Sequence[Sample], padding_side: str = "left") -> Any:
    """Processor inputs for a batch of prompts (chat template + generation prompt, images expanded)."""
    texts = [
        processor.apply_chat_template(chat_messages(s), add_generation_prompt=True, tokenize=False)
        for s in samples
    ]
    images = [to_rgb(image) for s in samples for image in s.images]
    processor.tokenizer.padding_side = padding_side
    return processor(text=texts, images=images or None, padding=True, return_tensors="pt")


def image_inputs(
    model: Any, processor: Any, samples: Sequence[Sample], input_ids: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The image keys of a policy forward for rows whose prompts are `samples` (row order).

    Returns `mm_token_type_ids` `[B, L]` (1 on image tokens) and, if any sample has images,
    `pixel_values` `[patches, D]` and `image_grid_thw` `[images, 3]`.
    """
    return row_image_inputs(model, processor, [sample.images for sample in samples], input_ids)


def row_image_inputs(
    model: Any, processor: Any, row_images: Sequence[Sequence[Any]], input_ids: torch.Tensor
) -> dict[str, torch.Tensor]:
    """`image_inputs` for rows given their own images, each row's in token order (a tool
    trajectory: the prompt's images, then those its tools returned inside the response)."""
    out: dict[str, torch.Tensor] = {}
    image_token_id = getattr(model.config, "image_token_id", None)
    if image_token_id is not None:
        out["mm_token_type_ids"] = (input_ids == image_token_id).long()
    images = [to_rgb(image) for row in row_images for image in row]
    if images:
        out.update(processed_images(processor, images))
    return out


def processed_images(processor: Any, images: Sequence[Any]) -> dict[str, torch.Tensor]:
    """`pixel_values` `[patches, D]` and `image_grid_thw` `[len(images), 3]` for `images`, each
    distinct image object processed once: a group's rows share their prompt's image, so an RL
    batch of G-sample groups holds each image G times. Equal, tensor for tensor, to processing
    every item (the image processor treats images one by one)."""
    index: dict[int, int] = {}  # id(image) -> its place among the distinct images
    distinct: list[Any] = []
    for image in images:  # all alive in `images`, so no two share an id
        if id(image) not in index:
            index[id(image)] = len(distinct)
            distinct.append(image)
    order = [index[id(image)] for image in images]
    encoded = processor.image_processor(images=distinct, return_tensors="pt")
    grid = encoded["image_grid_thw"]
    if len(distinct) == len(images):
        return {"pixel_values": encoded["pixel_values"], "image_grid_thw": grid}
    patches = torch.split(encoded["pixel_values"], grid.prod(dim=-1).tolist())
    return {
        "pixel_values": torch.cat([patches[i] for i in order]),
        "image_grid_thw": grid[order],
    }
