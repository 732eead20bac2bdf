"""The image side of a policy forward: processor inputs for prompts, and image tensors for rows.

`encode_prompts` builds generation inputs (chat template + generation prompt, images expanded
to their tokens). `row_image_inputs` gives the image keys of a forward over rows whose token
ids are already expanded (a training row: the prompt's images, then any a tool returned inside
the response, in token order): `pixel_values`, `image_grid_thw` from the processor's image
processor, and `mm_token_type_ids` marking the image tokens.

An `ImageCache` carries each image's processed tensors across the passes of an RL step
(rollout, old and reference log-probs, the update's micro-batches), so the image processor runs
once per distinct image instead of once per pass, and into later steps for the images of
trajectories a replay policy may train on again (`retain`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vrl.data.records import to_rgb
from vrl.data.schema import Sample, chat_messages


class ImageCache:
    """Processed tensors per image object, for an RL step and, through `retain`, the images of
    its trajectories a replay policy holds for later steps; and the step's prompt batches
    encoded ahead by the prompt loader (`put_prompts`), whose image tensors enter the cache when
    the engine takes them.

    Keyed by the image object's identity: the cache keeps a reference to every image it holds,
    so no other object can take its id while the cache lives. Equal pixels in two objects are
    two entries (processed twice), which is correct, only not shared.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, torch.Tensor, torch.Tensor]] = {}
        # Prompt batches encoded ahead, keyed by padding side and the samples' identities (the
        # entry keeps the samples, so no other object takes their ids while it is held).
        self._prompts: dict[tuple[Any, ...], tuple[list[Sample], dict[str, torch.Tensor]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, image: Any) -> bool:
        return id(image) in self._entries

    def retain(self, images: Iterable[Any]) -> None:
        """Forget every entry but those of `images` (the step's start: what a replayed
        trajectory may need again), and any prompt encodings not taken."""
        keep = {id(image) for image in images}
        self._entries = {key: entry for key, entry in self._entries.items() if key in keep}
        self._prompts.clear()

    def get(self, image: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """`(pixel_values [patches, D], image_grid_thw [3])` of an image in the cache."""
        _, pixel_values, grid = self._entries[id(image)]
        return pixel_values, grid

    def put_prompts(
        self, samples: Sequence[Sample], padding_side: str, encoded: dict[str, torch.Tensor]
    ) -> None:
        """Keep `encode_prompts(processor, samples, padding_side)`'s output, computed ahead (the
        prompt loader's worker, `PromptEncoding`), for the engine's call on these very samples."""
        self._prompts[(padding_side, *map(id, samples))] = (list(samples), encoded)

    def pop_prompts(self, samples: Sequence[Sample], padding_side: str) -> dict[str, torch.Tensor] | None:
        """The encoding `put_prompts` kept for exactly these sample objects, once; else None."""
        entry = self._prompts.pop((padding_side, *map(id, samples)), None)
        return None if entry is None else entry[1]

    def put(self, images: Sequence[Any], pixel_values: torch.Tensor, grid: torch.Tensor) -> None:
        """Store the processor's output for `images` (in its order): `pixel_values`
        `[sum of patches, D]` is split by each image's patch count, `grid` is `[len(images), 3]`."""
        patches = torch.split(pixel_values, grid.prod(dim=-1).tolist())
        for image, image_patches, image_grid in zip(images, patches, grid, strict=True):
            self._entries[id(image)] = (image, image_patches, image_grid)


def encode_prompts(
    processor: Any, samples: Sequence[Sample], padding_side: str = "left", cache: ImageCache | None = None
) -> Any:
    """Processor inputs for a batch of prompts (chat template + generation prompt, images expanded).

    `cache`: receives the image tensors the processor computed, per image of `samples`; an
    encoding of these very samples it holds (`ImageCache.put_prompts`) is used instead of the
    processor."""
    originals = [image for s in samples for image in s.images]
    encoded = cache.pop_prompts(samples, padding_side) if cache is not None else None
    if encoded is not None:
        from transformers import BatchFeature

        encoded = BatchFeature(dict(encoded))
    else:
        texts = [
            processor.apply_chat_template(chat_messages(s), add_generation_prompt=True, tokenize=False)
            for s in samples
        ]
        processor.tokenizer.padding_side = padding_side
        encoded = processor(
            text=texts,
            images=[to_rgb(image) for image in originals] or None,
            padding=True,
            return_tensors="pt",
        )
    if cache is not None and originals:
        cache.put(originals, encoded["pixel_values"], encoded["image_grid_thw"])
    return encoded


@dataclass(frozen=True)
class PromptEncoding:
    """`encode_prompts` of a prompt batch in the chunks an engine generates in, as a picklable
    callable that the RL prompt loader runs ahead of the step, in its worker process
    (`vrl.rl.data.PromptStream`): the processor's ~1 ms a prompt leaves the step (verl's
    dataset does the same in its loader workers). `batch_size`: the engine's prompts per call."""

    processor: Any
    batch_size: int
    padding_side: str = "left"

    def __call__(self, samples: Sequence[Sample]) -> list[dict[str, Any]]:
        """One encoding per chunk of `batch_size` samples, in order, as numpy arrays: they cross
        the loader's pipe as bytes (a tensor would be shared by file descriptor, one handshake
        each: ~1 ms a tensor, more than these small arrays take to copy)."""
        return [
            {
                key: value.numpy()
                for key, value in encode_prompts(
                    self.processor, samples[start : start + self.batch_size], self.padding_side
                ).items()
            }
            for start in range(0, len(samples), self.batch_size)
        ]

    def keep(self, cache: ImageCache, samples: Sequence[Sample], encoded: list[dict[str, Any]]) -> None:
        """Hand what `__call__` returned for `samples` to the step's `cache`, chunk by chunk."""
        for chunk, start in zip(encoded, range(0, len(samples), self.batch_size), strict=True):
            tensors = {key: torch.from_numpy(value) for key, value in chunk.items()}
            cache.put_prompts(samples[start : start + self.batch_size], self.padding_side, tensors)


def image_inputs(
    model: Any, processor: Any, samples: Sequence[Sample], input_ids: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The image keys of a policy forward for rows whose prompts are `samples` (row order).

    Returns `mm_token_type_ids` `[B, L]` (1 on image tokens) and, if any sample has images,
    `pixel_values` `[patches, D]` and `image_grid_thw` `[images, 3]`.
    """
    return row_image_inputs(model, processor, [sample.images for sample in samples], input_ids)


def row_image_inputs(
    model: Any,
    processor: Any,
    row_images: Sequence[Sequence[Any]],
    input_ids: torch.Tensor,
    cache: ImageCache | None = None,
) -> dict[str, torch.Tensor]:
    """`image_inputs` for rows given their own images, each row's in token order (a tool
    trajectory: the prompt's images, then those its tools returned inside the response).
    `cache`: the step's processed images, read and filled (`processed_images`)."""
    out: dict[str, torch.Tensor] = {}
    image_token_id = getattr(model.config, "image_token_id", None)
    if image_token_id is not None:
        out["mm_token_type_ids"] = (input_ids == image_token_id).long()
    images = [image for row in row_images for image in row]
    if images:
        out.update(processed_images(processor, images, cache))
    return out


def processed_images(
    processor: Any, images: Sequence[Any], cache: ImageCache | None = None
) -> dict[str, torch.Tensor]:
    """`pixel_values` `[patches, D]` and `image_grid_thw` `[len(images), 3]` for `images` (RGB
    converted here), each distinct image object processed once: a group's rows share their
    prompt's image, so an RL batch of G-sample groups holds each image G times. Images already in
    `cache` are not processed again; those processed here are added to it. Equal, tensor for
    tensor, to processing every item (the image processor treats images one by one)."""
    cache = cache if cache is not None else ImageCache()
    missing: dict[int, Any] = {}  # id -> image; all alive in `images`, so no two share an id
    for image in images:
        if image not in cache:
            missing.setdefault(id(image), image)
    if missing:
        todo = list(missing.values())
        encoded = processor.image_processor(images=[to_rgb(image) for image in todo], return_tensors="pt")
        cache.put(todo, encoded["pixel_values"], encoded["image_grid_thw"])
    parts = [cache.get(image) for image in images]
    return {
        "pixel_values": torch.cat([pixel_values for pixel_values, _ in parts]),
        "image_grid_thw": torch.stack([grid for _, grid in parts]),
    }
