"""The vision tower once per distinct image of a forward, not once per row.

A group's G rows share their prompt's image, so a stock forward over an RL micro-batch runs the
vision tower G times on the same pixels (at G = 8 it was ~40 % of each log-prob and update
forward of the embedded default: `experiments/rl_speed/vision_share.py`). Here the tower runs
on each distinct image once and every row gets that image's features through the model's own
`mm_encoder_outputs` argument (transformers >= 5: precomputed encoder outputs, spliced into the
image tokens exactly where the forward splices its own). In training, the rows' gradients flow
back into the one shared encoding and sum there: the same gradient as G separate encodings.

Used only where it is equal to the stock forward and safe:
- the model's forward takes `mm_encoder_outputs` (Qwen2/2.5-VL in transformers 5; otherwise the
  stock path runs);
- the model is not FSDP2-sharded (`fully_shard`): the tower would run outside the root module's
  forward, where FSDP2 has not gathered the root unit's parameters.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch.distributed.fsdp import FSDPModule
from transformers.modeling_outputs import BaseModelOutputWithPooling

from vrl.policy.images import ImageCache, processed_images, row_image_inputs
from vrl.policy.modules import base_model


def encodes_images_once(model: Any) -> bool:
    """Whether `shared_image_features` may stand in for `pixel_values` in `model`'s forward."""
    if isinstance(model, FSDPModule):
        return False
    base = base_model(model)
    return _forward_takes_encoder_outputs(type(base)) and hasattr(model, "get_image_features")


@functools.cache
def _forward_takes_encoder_outputs(model_class: type) -> bool:
    return "mm_encoder_outputs" in inspect.signature(model_class.forward).parameters


def distinct_images(images: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """`(distinct, index)`: the image objects in first-seen order, and for each of `images` the
    position of its object in `distinct` (identity, as `ImageCache` keys them)."""
    position: dict[int, int] = {}
    distinct: list[Any] = []
    index = []
    for image in images:
        if id(image) not in position:
            position[id(image)] = len(distinct)
            distinct.append(image)
        index.append(position[id(image)])
    return distinct, index


def shared_image_features(
    model: Any, processor: Any, images: Sequence[Any], device: torch.device, cache: ImageCache | None = None
) -> dict[str, Any]:
    """The image keys of a forward whose rows hold `images` (all rows' images, token order),
    with the vision tower run once per distinct image.

    Returns `image_grid_thw` `[len(images), 3]` (every image, for the mRoPE positions) and
    `mm_encoder_outputs` `{"image": ...}` whose `pooler_output` holds one `[tokens_i, H]` tensor
    per image of `images`: the same tensor object for every row that shares an image.
    """
    distinct, index = distinct_images(images)
    encoded = processed_images(processor, distinct, cache)
    grid = encoded["image_grid_thw"].to(device)
    features = model.get_image_features(
        pixel_values=encoded["pixel_values"].to(device), image_grid_thw=grid, return_dict=True
    ).pooler_output
    per_image = tuple(features[i] for i in index)
    return {
        "image_grid_thw": grid[torch.tensor(index, device=device)],
        "mm_encoder_outputs": {"image": BaseModelOutputWithPooling(pooler_output=per_image)},
    }


def image_keys(
    model: Any,
    processor: Any,
    row_images: Sequence[Sequence[Any]],
    input_ids: torch.Tensor,
    device: torch.device,
    cache: ImageCache | None = None,
    images_once: bool = True,
) -> dict[str, Any]:
    """The image keys of a forward over rows `input_ids` `[B, L]` holding `row_images` (each
    row's, in token order), on `device`: `mm_token_type_ids`, and the tower's features once per
    distinct image (`shared_image_features`) where `encodes_images_once(model)` and
    `images_once`, else the processor's `pixel_values` / `image_grid_thw` for every row's images."""
    once = images_once and any(row_images) and encodes_images_once(model)
    keys = row_image_inputs(model, processor, [] if once else row_images, input_ids, cache)
    keys = {k: v.to(device) for k, v in keys.items()}
    if once:
        images = [image for row in row_images for image in row]
        keys |= shared_image_features(model, processor, images, device, cache)
    return keys
