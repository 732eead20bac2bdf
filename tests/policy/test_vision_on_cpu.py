"""The vision tower once per distinct image (`vrl.policy.vision`): the same log-probs and the same
gradients as the stock forward that encodes every row's image, with the tower run on each
distinct image once (groups share their prompt's image; a tool's image is a row's own)."""

from __future__ import annotations

import random

import pytest
import torch

from vrl.model import load_vlm
from vrl.policy.images import encode_prompts, processed_images
from vrl.policy.log_probs import policy_inputs, response_logits, token_log_probs
from vrl.policy.trajectory import Trajectory
from vrl.policy.vision import distinct_images, encodes_images_once

GROUP = 3


def _rows(tiny, samples) -> list[Trajectory]:
    """Three prompts x GROUP rows (each group shares its prompt's image object), the last row
    with a tool image inside its response (its own image, its tokens masked out of the loss)."""
    processor, config = tiny.processor, tiny.model.config
    rng = random.Random(0)
    text_ids = [i for i in range(10, 60) if i not in (config.image_token_id, config.vision_start_token_id)]
    rows = []
    for index, sample in enumerate(samples[:3]):
        prompt = encode_prompts(processor, [sample])["input_ids"][0].tolist()
        for _ in range(GROUP):
            response = [rng.choice(text_ids) for _ in range(rng.randint(3, 6))]
            rows.append(Trajectory(index, index, sample, prompt, response, [1] * len(response), "", True))
    tool_image = samples[5].images[0]
    tokens = int(processed_images(processor, [tool_image])["image_grid_thw"].prod()) // 4  # 2x2 merge
    tool = [config.vision_start_token_id, *[config.image_token_id] * tokens, config.vision_end_token_id]
    last = rows[-1]
    last.response_ids = [*last.response_ids[:2], *tool, *last.response_ids[2:]]
    last.loss_mask = [1, 1, *[0] * len(tool), *[1] * (len(last.loss_mask) - 2)]
    last.tool_images = [tool_image]
    return rows


def _log_probs_and_grads(tiny, rows, images_once: bool) -> tuple[torch.Tensor, torch.Tensor]:
    model = tiny.model
    model.zero_grad()
    batch, inputs = policy_inputs(model, tiny.processor, rows, images_once=images_once)
    assert ("mm_encoder_outputs" in inputs) == images_once
    log_probs, _ = token_log_probs(response_logits(model, inputs, batch), batch.response_ids)
    (log_probs * batch.loss_mask).sum().backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return log_probs.detach() * batch.response_mask, grads


def test_rows_sharing_an_image_get_the_stock_log_probs_and_gradients_with_one_encoding_each(tiny, samples):
    model = tiny.model
    assert encodes_images_once(model)
    rows = _rows(tiny, samples)
    encoded: list[int] = []  # images per tower call
    model.model.visual.register_forward_hook(
        lambda module, args, kwargs, out: encoded.append(int(kwargs["grid_thw"].shape[0])), with_kwargs=True
    )

    stock_log_probs, stock_grads = _log_probs_and_grads(tiny, rows, images_once=False)
    assert encoded == [3 * GROUP + 1]  # every row's image, and the tool's
    once_log_probs, once_grads = _log_probs_and_grads(tiny, rows, images_once=True)
    assert encoded[1:] == [3 + 1]  # three prompt images and the tool's, once each

    assert torch.allclose(once_log_probs, stock_log_probs, atol=1e-5)
    vision = torch.cat([p.grad.flatten() for p in model.model.visual.parameters()])
    assert vision.abs().max() > 0  # the tower's gradient is checked, not vacuously zero
    assert torch.allclose(once_grads, stock_grads, atol=1e-5, rtol=1e-4)


def test_distinct_images_are_by_object_in_first_seen_order():
    a, b, c = object(), object(), object()
    assert distinct_images([b, a, b, c, a]) == ([b, a, c], [0, 1, 0, 2, 1])
    assert distinct_images([]) == ([], [])


def test_a_lora_policy_encodes_each_image_once_with_the_stock_log_probs(tiny_dir, tiny, samples):
    """peft wraps the model: the tower is still found through it, and LoRA's gradients match."""
    pytest.importorskip("peft")
    lora = load_vlm(
        str(tiny_dir),
        dtype="float32",
        lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj"]},
    )
    with torch.no_grad():  # B starts at zero: give the adapters an effect
        for name, parameter in lora.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    assert encodes_images_once(lora.model)
    rows = _rows(tiny, samples)
    stock_log_probs, stock_grads = _log_probs_and_grads(lora, rows, images_once=False)
    once_log_probs, once_grads = _log_probs_and_grads(lora, rows, images_once=True)
    assert torch.allclose(once_log_probs, stock_log_probs, atol=1e-5)
    assert once_grads.abs().max() > 0
    assert torch.allclose(once_grads, stock_grads, atol=1e-5, rtol=1e-4)
