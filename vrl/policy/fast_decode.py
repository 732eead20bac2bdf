"""A lean KV-cached sampling loop for Qwen2-VL-family decoders: the `fast` rollout engine's core.

`model.generate` pays, on every new token, for machinery a rollout does not use: its
logits-processor and stopping-criteria objects, `prepare_inputs_for_generation`, the mRoPE
position recomputation, a causal mask built from scratch, and a KV cache grown by `torch.cat`.
On the embedded default's tiny model that is ~5 of the ~6 ms a decode step takes on one core.
`sample_tokens` keeps the model's own modules and math and drops the rest:

- the prompt is prefilled by the model's own forward (vision tower, mRoPE positions), **once per
  prompt**, and its keys and values copied to the prompt's `n` rows (`generate` prefills every
  repeat);
- every decode step runs the decoder layers' own modules (norms, projections, MLP, rotary
  embedding) on one token per row against a preallocated cache, attending over the whole cache
  under a key mask (the prompt's padding and the slots not written yet are masked);
- text tokens after the prompt sit at position `prompt length + mRoPE delta + k` in all three
  mRoPE sections, so one rotary table, computed once per call, serves every step.

Sampling follows `generate`'s rules for the `Sampling` fields (repetition penalty ignoring the
left padding, suppressed tokens, then temperature, top-k and top-p, in `generate`'s order, with
transformers' own processors), EOS and stop strings end a row, finished rows are padded, and the
output has `generate`'s layout. Greedy decoding decodes each prompt once and repeats its rows.
The same logits to float precision are tested against the model's full forward
(tests/policy/test_fast_decode_on_cpu.py). A step draws its tokens by an exponential race over
every row's probabilities (`TokenChooser.draw`): `generate`'s distribution, from cheaper random
numbers than PyTorch's `multinomial`; with that draw set to PyTorch's own race, one seed gives
`generate`'s samples (tests/rollout/test_hf_engine_on_cpu.py).

Supported: Qwen2.5-VL under transformers >= 5 (full attention, sdpa or eager), plain or under
LoRA (peft), on any device; not FSDP2-sharded models (their blocks gather parameters only
through their own forward). For anything else `decoder_parts` says why in one line, and the
`fast` engine decodes that model with `generate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vrl.policy.decode_step import decode_step, layer_weights, linear
from vrl.policy.modules import base_model, returned_cache
from vrl.policy.sampling import Sampling
from vrl.policy.token_chooser import TokenChooser


@dataclass(frozen=True)
class DecoderParts:
    """The modules a decode step runs: the multimodal model (its forward prefills and sets
    `rope_deltas`), its text decoder (`embed_tokens`, `layers`, `norm`, `rotary_emb`) and `lm_head`."""

    multimodal: Any
    text: Any
    lm_head: Any


def decoder_parts(model: Any) -> DecoderParts | str:
    """The parts of a Qwen2-VL-family model (peft-wrapped or not), or one line saying why the loop
    cannot decode `model` (then `generate` must)."""
    base = base_model(model)
    multimodal = getattr(base, "model", None)
    text = getattr(multimodal, "language_model", None)
    lm_head = getattr(base, "lm_head", None)
    layers = getattr(text, "layers", None)
    if text is None or lm_head is None or not layers or not hasattr(multimodal, "rope_deltas"):
        return f"{type(base).__name__} is not a Qwen2-VL-family model (model.language_model.layers, lm_head)"
    if not all(_standard_layer(layer) for layer in layers):
        return "its decoder layers are not Qwen2-VL's (self_attn q/k/v/o_proj, mlp, two norms)"
    if getattr(text.config, "use_sliding_window", False):
        return "it uses sliding-window attention"
    if text.config._attn_implementation not in ("sdpa", "eager"):
        return f"its attention implementation is {text.config._attn_implementation!r} (sdpa or eager only)"
    if _is_fsdp(model):
        return "it is FSDP2-sharded (its blocks gather their parameters only in their own forward)"
    if not _recomposed_rotary(text):
        return "its rotary embedding is not Qwen2.5-VL's recomposed one ([batch, tokens, head_dim] tables)"
    return DecoderParts(multimodal=multimodal, text=text, lm_head=lm_head)


@torch.no_grad()
def sample_tokens(
    parts: DecoderParts,
    model: Any,
    inputs: dict[str, torch.Tensor],
    n: int,
    sampling: Sampling,
    *,
    pad_token_id: int,
    eos_token_ids: set[int],
    suppress_token_ids: Sequence[int] = (),
    tokenizer: Any = None,
    log_prob_temperature: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`n` sampled responses per prompt, in `generate`'s output layout, and their log-probs.

    Args:
        parts: `decoder_parts(model)`.
        inputs: the processor's (or `row_image_inputs`') tensors for P left-padded prompts:
            `input_ids` / `attention_mask` `[P, L]` and the image keys.
        n: responses per prompt (rows `p * n .. p * n + n - 1` are prompt p's).
        tokenizer: needed only when `sampling.stop` holds stop strings.
        log_prob_temperature: if given, also each new token's log-prob under the model's
            unprocessed logits divided by it (what `vrl.policy.log_probs` computes for the
            loss at that temperature, whatever rules drew the token).
    Returns:
        `[P * n, L + T]` token ids: each prompt row, then T <= `max_new_tokens` new tokens; a row
        that ended (EOS or stop string) is padded with `pad_token_id` after its last token.
        With `log_prob_temperature`, `[P * n, T]` float32 log-probs of those new tokens (padding:
        whatever the pad token scored); else None.
    """
    prompt_ids, prompt_mask = inputs["input_ids"], inputs["attention_mask"]
    device = prompt_ids.device
    prompts, width = prompt_ids.shape
    repeats = 1 if sampling.greedy else n
    rows, steps = prompts * repeats, sampling.max_new_tokens
    parts.multimodal.rope_deltas = None  # set by the prefill when its prompts hold images
    prefill = model(**inputs, use_cache=True, logits_to_keep=1)
    caches = _static_caches(returned_cache(prefill), len(parts.text.layers), repeats, width + steps)
    cos, sin = (
        table.transpose(0, 1)[:, :, None, None] for table in _rotary_table(parts, prompt_mask, repeats, steps)
    )
    # Keys the new tokens may attend to: the prompt's (not its padding), then each slot once
    # written. Attention runs over the whole cache (unwritten slots are masked and zero), so no
    # step slices it.
    key_mask = torch.zeros(rows, 1, 1, width + steps, dtype=torch.bool, device=device)
    key_mask[:, 0, 0, :width] = prompt_mask.bool().repeat_interleave(repeats, 0)
    tokens = torch.full((rows, width + steps), pad_token_id, dtype=prompt_ids.dtype, device=device)
    tokens[:, :width] = prompt_ids.repeat_interleave(repeats, 0)
    choose = TokenChooser(sampling, prompt_mask.repeat_interleave(repeats, 0), suppress_token_ids, tokenizer)
    eos = torch.tensor(sorted(eos_token_ids), device=device)
    running = torch.ones(rows, dtype=torch.bool, device=device)
    logits = _float(prefill.logits[:, -1]).repeat_interleave(repeats, 0)
    weights = layer_weights(parts.text)
    chosen_log_probs: list[torch.Tensor] = []
    end = width
    for step in range(steps):
        seen = tokens[:, :end] if choose.reads_tokens else tokens
        token = torch.where(running, choose(seen, logits), pad_token_id)
        if log_prob_temperature is not None:
            scaled = logits if log_prob_temperature == 1.0 else logits / log_prob_temperature
            chosen_log_probs.append(scaled.log_softmax(dim=-1).gather(1, token[:, None]))
        tokens[:, end] = token
        end += 1
        running &= torch.isin(token, eos, invert=True)
        if choose.stop is not None:
            running &= ~choose.stopped(tokens[:, :end], logits)
        if step == steps - 1 or not running.any():
            break
        key_mask[..., width + step] = True
        hidden = decode_step(
            parts.text, weights, token, width + step, caches, (cos[step], sin[step]), key_mask
        )
        logits = _float(linear(parts.lm_head, hidden[:, 0]))
    output = tokens[:, :end]
    log_probs = torch.cat(chosen_log_probs, dim=1) if chosen_log_probs else None
    if repeats == 1 and n > 1:
        output = output.repeat_interleave(n, 0)
        log_probs = log_probs.repeat_interleave(n, 0) if log_probs is not None else None
    return output, log_probs


def _float(logits: torch.Tensor) -> torch.Tensor:
    return logits if logits.dtype == torch.float32 else logits.float()


def _rotary_table(
    parts: DecoderParts, prompt_mask: torch.Tensor, repeats: int, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(cos, sin)` `[B, T, Dh]` of the T new tokens of every row.

    A prompt with images: its prefill's mRoPE positions end at `length + delta - 1` (`delta`
    the prefill's `rope_deltas`), and text after it advances all three sections together. A
    text-only prompt: the prefill counted the padding too (positions `0 .. L - 1`); RoPE sees
    only differences, so continuing from L is what `generate` and the log-prob forward agree on."""
    deltas = parts.multimodal.rope_deltas
    if deltas is None:
        first = torch.full_like(prompt_mask[:, :1], prompt_mask.shape[1])
    else:
        first = prompt_mask.sum(-1, keepdim=True) + deltas.to(prompt_mask.device)
    positions = first.repeat_interleave(repeats, 0) + torch.arange(steps, device=prompt_mask.device)
    probe = parts.text.embed_tokens.weight[:1]  # the dtype and device the table is made in
    return parts.text.rotary_emb(probe, positions[None].expand(3, -1, -1))


def _static_caches(
    cache: Any, layers: int, repeats: int, length: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, `(keys, values)` buffers `[P * repeats, kv heads, length, Dh]` holding the
    prefill's `[P, kv heads, L, Dh]` in their first L slots, each prompt's rows repeated."""
    out = []
    for index in range(layers):
        prefix_keys, prefix_values = cache.layers[index].keys, cache.layers[index].values
        prompts, heads, width, dim = prefix_keys.shape
        # zeros, not empty: attention reads every slot (masked), and 0 * NaN garbage would be NaN
        keys = prefix_keys.new_zeros(prompts * repeats, heads, length, dim)
        values = prefix_values.new_zeros(prompts * repeats, heads, length, dim)
        keys[:, :, :width] = prefix_keys.repeat_interleave(repeats, 0)
        values[:, :, :width] = prefix_values.repeat_interleave(repeats, 0)
        out.append((keys, values))
    return out


def _standard_layer(layer: Any) -> bool:
    attention = getattr(layer, "self_attn", None)
    return (
        attention is not None
        and all(hasattr(attention, name) for name in ("q_proj", "k_proj", "v_proj", "o_proj", "scaling"))
        and all(hasattr(layer, name) for name in ("mlp", "input_layernorm", "post_attention_layernorm"))
    )


_RECOMPOSED: dict[type, bool] = {}  # rotary embedding class -> its tables' layout (a fact of its code)


def _recomposed_rotary(text: Any) -> bool:
    """Whether the rotary embedding returns `[batch, tokens, head_dim]` tables (transformers >= 5's
    Qwen2.5-VL, which recomposes the mRoPE sections itself; older ones return them per section).
    Probed once per class: every rollout asks."""
    kind = type(text.rotary_emb)
    if kind not in _RECOMPOSED:
        probe = text.embed_tokens.weight[:1]
        with torch.no_grad():
            cos, _ = text.rotary_emb(probe, torch.zeros(3, 1, 1, dtype=torch.long, device=probe.device))
        _RECOMPOSED[kind] = cos.dim() == 3
    return _RECOMPOSED[kind]


def _is_fsdp(model: Any) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return any(isinstance(module, FSDPModule) for module in model.modules())
