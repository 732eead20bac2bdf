"""`vrl.policy.fast_decode`: the `fast` engine's decode loop against the model's own full forward.

The decode loop re-implements only the wiring of one decode step (cache slots, rotary positions,
padding mask, fused projections); a teacher-forced run checks that wiring: each step's logits must
be the logits a full forward over prompt + the forced tokens gives at that position."""

from __future__ import annotations

import torch

from vrl.policy import decode_step, fast_decode
from vrl.policy.fast_decode import decoder_parts, sample_tokens
from vrl.policy.images import encode_prompts
from vrl.policy.sampling import Sampling
from vrl.policy.token_chooser import TokenChooser
from vrl.policy.tokens import eos_token_ids


class ForcedTokens(TokenChooser):
    """Chooses `FORCED[row][k]` at step k and records the logits it was given."""

    FORCED: list[list[int]] = []
    seen: list[torch.Tensor] = []

    def __call__(self, tokens, logits):
        step = len(ForcedTokens.seen)
        ForcedTokens.seen.append(logits.clone())
        return torch.tensor([row[step] for row in ForcedTokens.FORCED])


def _forced_run(monkeypatch, model, processor, inputs, n, forced, **sampling):
    ForcedTokens.FORCED, ForcedTokens.seen = forced, []
    monkeypatch.setattr(fast_decode, "TokenChooser", ForcedTokens)
    parts = decoder_parts(model)
    assert not isinstance(parts, str), parts
    output, log_probs = sample_tokens(
        parts,
        model,
        inputs,
        n,
        Sampling(max_new_tokens=len(forced[0]), **sampling),
        pad_token_id=processor.tokenizer.pad_token_id,
        eos_token_ids=eos_token_ids(model, processor),
        tokenizer=processor.tokenizer,
        log_prob_temperature=0.5,
    )
    return output, ForcedTokens.seen, log_probs


def _full_forward_logits(model, inputs, n, forced):
    """Logits `[B, T, V]` of a full forward over each row's prompt + forced tokens."""
    rows = torch.tensor(forced)
    width = inputs["input_ids"].shape[1]
    full = {
        "input_ids": torch.cat([inputs["input_ids"].repeat_interleave(n, 0), rows], dim=1),
        "attention_mask": torch.cat(
            [inputs["attention_mask"].repeat_interleave(n, 0), torch.ones_like(rows)], dim=1
        ),
    }
    if "pixel_values" in inputs:
        per_prompt = inputs["image_grid_thw"].prod(-1).tolist()
        pixels = torch.split(inputs["pixel_values"], per_prompt)
        full["pixel_values"] = torch.cat([pixels[i // n] for i in range(len(forced))])
        full["image_grid_thw"] = inputs["image_grid_thw"].repeat_interleave(n, 0)
        full["mm_token_type_ids"] = torch.cat(
            [inputs["mm_token_type_ids"].repeat_interleave(n, 0), torch.zeros_like(rows)], dim=1
        )
    with torch.no_grad():
        logits = model(**full).logits.float()
    return logits[:, width - 1 : width - 1 + rows.shape[1]]


def _forced_tokens(processor, rows: int, steps: int, seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    text_ids = torch.tensor(
        processor.tokenizer("0123456789 the answer is", add_special_tokens=False)["input_ids"]
    )
    return text_ids[torch.randint(len(text_ids), (rows, steps), generator=generator)].tolist()


def test_every_step_gives_the_full_forwards_logits_with_images_padding_and_repeats(
    tiny, samples, monkeypatch
):
    model, processor = tiny.model.eval(), tiny.processor
    # prompts of different lengths (left padding), each with its image; 3 rows per prompt
    batch = [samples[0], samples[5], samples[11]]
    inputs = dict(encode_prompts(processor, batch, "left"))
    assert inputs["attention_mask"].sum(-1).unique().numel() > 1  # really padded
    forced = _forced_tokens(processor, rows=9, steps=7, seed=0)
    output, seen, log_probs = _forced_run(monkeypatch, model, processor, inputs, 3, forced, temperature=1.0)
    assert output[:, inputs["input_ids"].shape[1] :].tolist() == forced
    reference = _full_forward_logits(model, inputs, 3, forced)
    assert torch.allclose(torch.stack(seen, dim=1), reference, atol=1e-4), (
        (torch.stack(seen, dim=1) - reference).abs().max()
    )
    # each forced token's log-prob at the requested temperature (0.5), from the raw logits
    expected = (reference / 0.5).log_softmax(-1).gather(-1, torch.tensor(forced)[..., None])[..., 0]
    assert torch.allclose(log_probs, expected, atol=1e-4)


def test_a_large_model_is_decoded_through_its_modules_without_fused_copies(tiny, samples, monkeypatch):
    """Above `FUSE_MAX_BYTES` of projections (a 7B's would copy ~10 GB a call) the loop calls
    the modules themselves: no fused weights, the same logits."""
    model, processor = tiny.model.eval(), tiny.processor
    parts = decoder_parts(model)
    assert all(w.qkv is not None and w.gate_up is not None for w in decode_step.layer_weights(parts.text))
    monkeypatch.setattr(decode_step, "FUSE_MAX_BYTES", 0)
    assert all(w.qkv is None and w.gate_up is None for w in decode_step.layer_weights(parts.text))
    inputs = dict(encode_prompts(processor, samples[:2], "left"))
    forced = _forced_tokens(processor, rows=4, steps=4, seed=2)
    _, seen, _ = _forced_run(monkeypatch, model, processor, inputs, 2, forced, temperature=1.0)
    assert torch.allclose(torch.stack(seen, dim=1), _full_forward_logits(model, inputs, 2, forced), atol=1e-4)


def test_text_only_prompts_and_a_lora_policy_give_the_full_forwards_logits(tiny, monkeypatch):
    from vrl.model.lora import apply_lora

    processor = tiny.processor
    model = apply_lora(tiny.model, {"r": 4}).eval()
    for module in model.modules():  # non-zero adapters, so that a dropped LoRA path would show
        if hasattr(module, "lora_B"):
            torch.nn.init.normal_(module.lora_B["default"].weight, std=0.5)
    processor.tokenizer.padding_side = "left"
    inputs = dict(processor.tokenizer(["what is 2 + 3?", "count"], return_tensors="pt", padding=True))
    forced = _forced_tokens(processor, rows=4, steps=5, seed=1)
    output, seen, _ = _forced_run(monkeypatch, model, processor, inputs, 2, forced, temperature=1.0)
    assert output.shape == (4, inputs["input_ids"].shape[1] + 5)
    reference = _full_forward_logits(model, inputs, 2, forced)
    assert torch.allclose(torch.stack(seen, dim=1), reference, atol=1e-4)


def test_a_row_ends_at_eos_or_a_stop_string_is_padded_after_and_decoding_stops_with_the_last(
    tiny, samples, monkeypatch
):
    model, processor = tiny.model.eval(), tiny.processor
    inputs = dict(encode_prompts(processor, samples[:2], "left"))
    width, pad = inputs["input_ids"].shape[1], processor.tokenizer.pad_token_id
    eos = min(eos_token_ids(model, processor))
    stop_ids = processor.tokenizer("ANSWER", add_special_tokens=False)["input_ids"]
    words = processor.tokenizer("1 2 3 4 5 6 7 8 9", add_special_tokens=False)["input_ids"]
    forced = [
        words[:2] + [eos] + words[:7],  # EOS at step 2
        words[:3] + stop_ids + words[: 7 - len(stop_ids)],  # the stop string completes at 3 + len - 1
    ]
    output, seen, _ = _forced_run(
        monkeypatch, model, processor, inputs, 1, forced, temperature=1.0, stop=["ANSWER"]
    )
    new = output[:, width:].tolist()
    stop_end = 3 + len(stop_ids)
    assert len(seen) == stop_end  # no step after the last row ended
    assert new[0] == words[:2] + [eos] + [pad] * (stop_end - 3)
    assert new[1] == forced[1][:stop_end]


def test_sampled_tokens_follow_the_processed_distribution(tiny):
    """The exponential race draws from softmax(logits / T) restricted by top-k, never a
    suppressed token; 40,000 draws of one row's distribution, within 0.01 of the exact one."""
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, 3.0]]).repeat(40_000, 1)
    mask = torch.ones(40_000, 3, dtype=torch.long)
    chooser = TokenChooser(Sampling(temperature=0.7, top_k=4), mask, suppress=[5], tokenizer=None)
    counts = torch.bincount(chooser(torch.zeros(40_000, 3, dtype=torch.long), logits), minlength=6)
    kept = torch.tensor([2.0, 1.0, 0.5, 0.0, float("-inf"), float("-inf")]) / 0.7  # 5 suppressed, then top 4
    expected = kept.softmax(-1)
    assert counts[4] == 0 and counts[5] == 0
    assert torch.allclose(counts / 40_000, expected, atol=0.01), (counts / 40_000, expected)
    greedy = TokenChooser(Sampling(temperature=0.0), mask[:1], suppress=[5], tokenizer=None)
    assert greedy(torch.zeros(1, 3, dtype=torch.long), logits[:1]).item() == 0


def test_a_model_the_loop_cannot_decode_is_generated_as_rollout_hf_after_one_warning(tiny, samples, caplog):
    from vrl.rollout.fast import FastRolloutEngine

    assert "is not a Qwen2-VL-family model" in decoder_parts(torch.nn.Linear(2, 2))
    model, processor = tiny.model, tiny.processor
    model.config.text_config.use_sliding_window = True  # as far as the loop is concerned: refused
    assert decoder_parts(model) == "it uses sliding-window attention"
    engine = FastRolloutEngine(sampling=Sampling(max_new_tokens=6, temperature=0.0))
    expected = engine.generate(model, processor, samples[:2])  # warns once
    expected_again = engine.generate(model, processor, samples[:2])
    warnings = [r.getMessage() for r in caplog.records if "rollout=fast" in r.getMessage()]
    assert warnings == [
        "rollout=fast: it uses sliding-window attention; decoding it with transformers' generate (as rollout=hf)"
    ]
    model.config.text_config.use_sliding_window = False
    assert (
        expected
        == expected_again
        == FastRolloutEngine(sampling=engine.sampling).generate(model, processor, samples[:2])
    )
