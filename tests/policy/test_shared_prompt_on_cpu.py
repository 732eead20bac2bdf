"""Each distinct prompt run once (`vrl.policy.shared_prompt`): the stock forward's logits and
gradients, with the prompt tokens through the decoder once per prompt instead of once per row."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from vrl.model import load_vlm
from vrl.policy.batch import TrajectoryBatch
from vrl.policy.images import encode_prompts
from vrl.policy.log_probs import batch_and_logits, token_log_probs
from vrl.policy.shared_prompt import distinct_prompts, shared_prompt_logits
from vrl.policy.trajectory import Trajectory


def _rows(tiny, samples, group: int = 3, text_only: bool = False) -> list[Trajectory]:
    """Three prompts of different lengths x `group` rows of random responses of 1-6 tokens;
    with `text_only`, a fourth prompt with no image."""
    processor, config = tiny.processor, tiny.model.config
    rng = random.Random(0)
    text_ids = [i for i in range(10, 60) if i not in (config.image_token_id, config.vision_start_token_id)]
    prompts = list(samples[:3])
    if text_only:
        text = [{**m, "content": m["content"].replace("<image>", "")} for m in samples[3].prompt]
        prompts.append(dataclasses.replace(samples[3], images=[], prompt=text))
    rows = []
    for index, sample in enumerate(prompts):
        prompt = encode_prompts(processor, [sample])["input_ids"][0].tolist()
        for _ in range(group):
            response = [rng.choice(text_ids) for _ in range(rng.randint(1, 6))]
            rows.append(Trajectory(index, index, sample, prompt, response, [1] * len(response), "", True))
    rng.shuffle(rows)  # a micro-batch need not hold a group's rows together
    return rows


def _logits_and_grads(tiny, rows, share: bool) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    model = tiny.model
    model.zero_grad()
    tokens: list[int] = []  # token positions through the decoder, per forward
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hook = base.model.language_model.register_forward_hook(
        lambda module, args, kwargs, out: tokens.append(int(kwargs["inputs_embeds"].shape[:2].numel())),
        with_kwargs=True,
    )
    try:
        batch, logits = batch_and_logits(model, tiny.processor, rows, share_prompts=share)
    finally:
        hook.remove()
    log_probs, _ = token_log_probs(logits, batch.response_ids)
    weights = torch.linspace(-1.0, 1.0, log_probs.numel()).view_as(
        log_probs
    )  # rows and tokens weigh differently
    (log_probs * weights * batch.response_mask).sum().backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return logits.detach() * batch.response_mask[..., None], grads, tokens


def test_shared_prompts_give_the_stock_logits_and_gradients_running_each_prompt_once(tiny, samples):
    rows = _rows(tiny, samples, text_only=True)
    tiny.model.train()
    tiny.model.model.rope_deltas = torch.full((1, 1), 7)  # a rollout's leftover: must not be read
    stock_logits, stock_grads, stock_tokens = _logits_and_grads(tiny, rows, share=False)
    shared_logits, shared_grads, shared_tokens = _logits_and_grads(tiny, rows, share=True)

    batch = TrajectoryBatch.from_trajectories(rows, tiny.processor.tokenizer.pad_token_id)
    p_len, t_len = batch.prompt_length, batch.response_ids.shape[1]
    assert stock_tokens == [len(rows) * (p_len + t_len)]
    assert shared_tokens == [4 * p_len, len(rows) * t_len]  # 4 distinct prompts once, then the responses
    assert torch.allclose(shared_logits, stock_logits, atol=1e-4), (shared_logits - stock_logits).abs().max()
    vision = torch.cat([p.grad.flatten() for p in tiny.model.model.visual.parameters()])
    assert vision.abs().max() > 0  # the image path's gradient is compared, not vacuously zero
    assert torch.allclose(shared_grads, stock_grads, atol=1e-5, rtol=1e-4), (
        (shared_grads - stock_grads).abs().max()
    )


def test_in_eval_mode_without_grad_too(tiny, samples):
    rows = _rows(tiny, samples, group=2)
    tiny.model.eval()
    with torch.no_grad():
        _, stock = batch_and_logits(tiny.model, tiny.processor, rows, share_prompts=False)
        batch = TrajectoryBatch.from_trajectories(rows, tiny.processor.tokenizer.pad_token_id)
        shared = shared_prompt_logits(tiny.model, tiny.processor, rows, batch)
    mask = batch.response_mask[..., None]
    assert shared is not None and torch.allclose(shared * mask, stock * mask, atol=1e-4)
    tiny.model.train()


def test_where_it_does_not_apply_the_stock_forward_runs(tiny, samples):
    rows = _rows(tiny, samples, group=2)
    pad = tiny.processor.tokenizer.pad_token_id
    singles = [rows[i] for i in distinct_prompts(rows)[0]]  # one row per prompt: nothing to share
    assert (
        shared_prompt_logits(
            tiny.model, tiny.processor, singles, TrajectoryBatch.from_trajectories(singles, pad)
        )
        is None
    )
    tool = dataclasses.replace(rows[0], tool_images=[samples[5].images[0]])
    mixed = [tool, *rows[1:]]
    assert (
        shared_prompt_logits(tiny.model, tiny.processor, mixed, TrajectoryBatch.from_trajectories(mixed, pad))
        is None
    )
    # Activation checkpointing (a cached continuation cannot recompute) runs the stock forward.
    batch = TrajectoryBatch.from_trajectories(rows, pad)
    assert shared_prompt_logits(tiny.model, tiny.processor, rows, batch) is not None
    tiny.model.gradient_checkpointing_enable()
    try:
        assert shared_prompt_logits(tiny.model, tiny.processor, rows, batch) is None
    finally:
        tiny.model.gradient_checkpointing_disable()


def test_distinct_prompts_are_by_ids_and_image_objects_in_first_seen_order(samples):
    a, b = samples[0], samples[1]
    rows = [
        Trajectory(0, 0, s, ids, [1], [1], "", True)
        for s, ids in ((a, [1, 2]), (b, [1, 2]), (a, [1, 2]), (a, [3]))
    ]
    assert distinct_prompts(rows) == ([0, 1, 3], [0, 1, 0, 2])


def test_a_lora_policy_shares_its_prompts_with_the_stock_gradients(tiny_dir, tiny, samples):
    """peft wraps the model: the prompt-once path runs through it, and LoRA's gradients match."""
    pytest.importorskip("peft")
    lora = load_vlm(
        str(tiny_dir),
        dtype="float32",
        lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
    )
    with torch.no_grad():  # B starts at zero: give the adapters an effect
        for name, parameter in lora.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    lora.model.train()
    rows = _rows(tiny, samples)
    stock_logits, stock_grads, _ = _logits_and_grads(lora, rows, share=False)
    shared_logits, shared_grads, tokens = _logits_and_grads(lora, rows, share=True)
    assert len(tokens) == 2  # the prompts, then the responses
    assert torch.allclose(shared_logits, stock_logits, atol=1e-4)
    assert shared_grads.abs().max() > 0
    assert torch.allclose(shared_grads, stock_grads, atol=1e-5, rtol=1e-4)


def test_positions_from_the_distinct_prompts_are_the_stock_full_row_positions(tiny, samples):
    """The mRoPE positions built from each distinct prompt's (`get_rope_index` on P tokens, the
    responses continuing as text) equal the stock loop over the full rows at every kept token."""
    from vrl.policy.shared_prompt import _positions
    from vrl.policy.vision import image_keys

    model, processor = tiny.model, tiny.processor
    rows = _rows(tiny, samples, group=4, text_only=True)
    batch = TrajectoryBatch.from_trajectories(rows, processor.tokenizer.pad_token_id)
    first, index = distinct_prompts(rows)
    ids, mask, p_len = batch.input_ids, batch.attention_mask, batch.prompt_length
    prompt_images = [rows[row].sample.images for row in first]
    keys = image_keys(model, processor, prompt_images, ids[first, :p_len], ids.device, None)
    counts = [len(images) for images in prompt_images]
    fast = _positions(
        model, ids, mask, p_len, torch.tensor(first), torch.tensor(index), counts, keys["image_grid_thw"]
    )

    per_prompt = torch.split(keys["image_grid_thw"], counts)
    stock, _ = model.model.get_rope_index(
        ids,
        mm_token_type_ids=(ids == model.config.image_token_id).long(),
        image_grid_thw=torch.cat([per_prompt[i] for i in index]),
        attention_mask=mask,
    )
    kept = mask.bool().expand(3, -1, -1)
    assert fast.shape == stock.shape
    assert torch.equal(fast[kept], stock[kept])
    assert len(set(mask.sum(1).tolist())) > 2 and (mask[:, :p_len] == 0).any()  # ragged rows, left padding
