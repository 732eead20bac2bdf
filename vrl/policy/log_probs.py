"""Per-token log-probs of responses under a model: the one place the RL side computes them.

A training row is `prompt_ids + response_ids` as `TrajectoryBatch` pads them (prompts
left-padded to P, responses right-padded to T); its images come from `row_image_inputs`, or
as features encoded once per distinct image (`vrl.policy.vision`).

Alignment: logits at position j predict token j + 1, so response token t (at position P + t)
is scored by the logits at position P + t - 1; the response's logits are positions
P - 1 .. P + T - 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from vrl.policy.batch import TrajectoryBatch
from vrl.policy.images import ImageCache
from vrl.policy.logits import log_probs_and_entropy, log_probs_from_logits
from vrl.policy.mode import evaluating
from vrl.policy.shared_prompt import shared_prompt_logits
from vrl.policy.trajectory import Trajectory
from vrl.policy.vision import image_keys


def policy_inputs(
    model: Any,
    processor: Any,
    trajectories: Sequence[Trajectory],
    image_cache: ImageCache | None = None,
    images_once: bool = True,
    batch: TrajectoryBatch | None = None,
) -> tuple[TrajectoryBatch, dict[str, Any]]:
    """The padded batch (`batch`, if already padded) and the keyword arguments of the policy's
    forward (on `model.device`); `image_cache`: the RL step's processed images
    (`vrl.policy.images.ImageCache`).

    `images_once`: where the model allows it (`vrl.policy.vision.encodes_images_once`), the
    vision tower runs here, once per distinct image, and the rows get its features
    (`mm_encoder_outputs`) instead of `pixel_values`; False: the stock forward, once per row.
    """
    batch = batch or TrajectoryBatch.from_trajectories(trajectories, processor.tokenizer.pad_token_id)
    device = next(model.parameters()).device
    inputs = {"input_ids": batch.input_ids.to(device), "attention_mask": batch.attention_mask.to(device)}
    row_images = [t.images for t in trajectories]
    inputs |= image_keys(model, processor, row_images, batch.input_ids, device, image_cache, images_once)
    return batch, inputs


def batch_and_logits(
    model: Any,
    processor: Any,
    trajectories: Sequence[Trajectory],
    image_cache: ImageCache | None = None,
    share_prompts: bool = True,
) -> tuple[TrajectoryBatch, torch.Tensor]:
    """The padded batch of `trajectories` and the `[B, T, V]` logits scoring its response tokens.

    `share_prompts`: rows that share a prompt run it once (`vrl.policy.shared_prompt`) where that
    applies; else, and with False, the stock forward over every `prompt + response` row."""
    batch = TrajectoryBatch.from_trajectories(trajectories, processor.tokenizer.pad_token_id)
    if share_prompts:
        logits = shared_prompt_logits(model, processor, trajectories, batch, image_cache)
        if logits is not None:
            return batch, logits
    batch, inputs = policy_inputs(model, processor, trajectories, image_cache, batch=batch)
    return batch, response_logits(model, inputs, batch)


def response_logits(model: Any, inputs: dict[str, Any], batch: TrajectoryBatch) -> torch.Tensor:
    """`[B, T, V]` logits that score the T response tokens (positions P - 1 .. P + T - 2).

    Only the last T + 1 positions go through the LM head (`logits_to_keep`); the last one
    (after the final token) predicts nothing in the batch and is dropped.
    """
    t_len = batch.response_mask.shape[1]
    logits = model(**inputs, use_cache=False, logits_to_keep=t_len + 1).logits
    return logits[:, :-1]


def token_log_probs(
    logits: torch.Tensor,
    response_ids: torch.Tensor,
    temperature: float = 1.0,
    with_entropy: bool = False,
    entropy_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log p(response token) `[B, T]` (and the entropies `[B, T]`) under `logits / temperature`;
    `entropy_grad=False`: the entropies carry no gradient (a metric, not a loss term)."""
    scaled = logits.float() / temperature if temperature != 1.0 else logits
    if with_entropy:
        return log_probs_and_entropy(scaled, response_ids.to(logits.device), entropy_grad)
    return log_probs_from_logits(scaled, response_ids.to(logits.device)), None


@torch.no_grad()
def response_log_probs(
    model: Any,
    processor: Any,
    trajectories: Sequence[Trajectory],
    temperature: float = 1.0,
    micro_batch_size: int = 8,
    image_cache: ImageCache | None = None,
) -> list[list[float]]:
    """Per trajectory, the log-prob of each response token under `model` in eval mode (no grad)."""
    out: list[list[float]] = []
    with evaluating(model):
        for start in range(0, len(trajectories), max(1, micro_batch_size)):
            chunk = trajectories[start : start + micro_batch_size]
            batch, logits = batch_and_logits(model, processor, chunk, image_cache)
            log_probs, _ = token_log_probs(logits, batch.response_ids, temperature)
            out.extend(row[: len(t.response_ids)].tolist() for row, t in zip(log_probs.cpu(), chunk))
    return out
