"""One decode step through a Qwen2-VL-family decoder's own modules, for `vrl.policy.fast_decode`.

`layer_weights` fuses each layer's projections where they are plain `nn.Linear`s (q, k, their
`rotate_half` and v in one matmul; the MLP's gate and up in one), once per `sample_tokens` call;
`decode_step` runs one new token per row through every layer against a preallocated KV cache.
The math is the modules' own (tests/policy/test_fast_decode_on_cpu.py: the logits of a full
forward at every step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LayerWeights:
    """One decoder layer, with its projections fused where they are plain `nn.Linear`s (a LoRA
    or other wrapped projection keeps its module call). Made once per call: the weights do not
    change while it decodes.

    `qkv`: one matmul gives q and k, then `rotate_half` of q and k (rows permuted and negated:
    `rotate_half(W x) = R W x`), then v, so the rotary embedding is `qk * cos + R qk * sin` with
    no slicing and concatenating per step. `gate_up`: the MLP's gate and up in one matmul."""

    layer: Any
    qkv: tuple[torch.Tensor, torch.Tensor | None] | None  # weight [(2 (H + KV) + KV) * Dh, D], bias
    gate_up: torch.Tensor | None  # [2 * I, D]
    heads: int
    kv_heads: int

    @staticmethod
    def of(layer: Any, heads: int, kv_heads: int) -> LayerWeights:
        attention, mlp = layer.self_attn, layer.mlp
        projections = (attention.q_proj, attention.k_proj, attention.v_proj)
        qkv = gate_up = None
        plain = all(type(p) is torch.nn.Linear for p in projections)
        if plain and len({p.bias is None for p in projections}) == 1:  # all with a bias, or none
            q, k, v = projections
            parts = (
                q.weight,
                k.weight,
                rotated_half(q.weight, heads),
                rotated_half(k.weight, kv_heads),
                v.weight,
            )
            bias = None
            if q.bias is not None:
                bias = torch.cat(
                    (q.bias, k.bias, rotated_half(q.bias, heads), rotated_half(k.bias, kv_heads), v.bias)
                )
            qkv = (torch.cat(parts), bias)
        halves = (getattr(mlp, "gate_proj", None), getattr(mlp, "up_proj", None))
        if hasattr(mlp, "act_fn") and all(type(p) is torch.nn.Linear and p.bias is None for p in halves):
            gate_up = torch.cat([halves[0].weight, halves[1].weight])
        return LayerWeights(layer, qkv, gate_up, heads, kv_heads)


def rotated_half(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """The rows of a per-head projection (weight `[heads * Dh, D]` or bias `[heads * Dh]`) that
    compute `rotate_half` of its output: per head, `cat(-rows[Dh/2:], rows[:Dh/2])`."""
    per_head = weight.view(heads, -1, *weight.shape[1:])
    first, second = per_head.chunk(2, dim=1)
    return torch.cat((-second, first), dim=1).reshape(weight.shape)


# The fused copies are made per call: worth it where per-op overhead dominates (the tiny model:
# ~1 MB), not where the matmuls do and the copies would cost memory (a 7B: ~10 GB).
FUSE_MAX_BYTES = 64 * 2**20


def layer_weights(text: Any) -> list[LayerWeights]:
    heads, kv_heads = text.config.num_attention_heads, text.config.num_key_value_heads
    layers = text.layers
    fused_bytes = sum(
        p.numel() * p.element_size()
        for layer in layers
        for module in (layer.self_attn, layer.mlp)
        for name, p in module.named_parameters(recurse=True)
        if name.split(".")[0] in ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")
    )
    if fused_bytes > FUSE_MAX_BYTES:
        return [LayerWeights(layer, None, None, heads, kv_heads) for layer in layers]
    return [LayerWeights.of(layer, heads, kv_heads) for layer in layers]


def decode_step(
    text: Any,
    weights: list[LayerWeights],
    token: torch.Tensor,
    slot: int,
    caches: list[tuple[torch.Tensor, torch.Tensor]],
    rotary: tuple[torch.Tensor, torch.Tensor],
    key_mask: torch.Tensor,
) -> torch.Tensor:
    """The final norm's output `[B, 1, D]` for one new token per row (`token` `[B]`), whose keys
    and values are written to cache slot `slot`; `rotary` the token's `(cos, sin)` `[B, 1, 1, Dh]`;
    `key_mask` `[B, 1, 1, cache length]` (False: padding, or a slot not written yet)."""
    cos, sin = rotary
    hidden = text.embed_tokens(token[:, None])
    rows = hidden.shape[0]
    for w, (keys, values) in zip(weights, caches):
        attention, mlp = w.layer.self_attn, w.layer.mlp
        head_dim = keys.shape[-1]
        normed = norm_of(w.layer.input_layernorm, hidden)
        if w.qkv is not None:  # [B, 2 (H + KV) + KV, 1, Dh]: q k, their rotate_half, v
            projected = F.linear(normed, *w.qkv).view(rows, -1, 1, head_dim)
            both = w.heads + w.kv_heads
            qk, qk_half, value = projected.split((both, both, w.kv_heads), dim=1)
            query, key = torch.addcmul(qk * cos, qk_half, sin).split((w.heads, w.kv_heads), dim=1)
        else:
            query = rotate(attention.q_proj(normed).view(rows, -1, 1, head_dim), cos, sin)
            key = rotate(attention.k_proj(normed).view(rows, -1, 1, head_dim), cos, sin)
            value = attention.v_proj(normed).view(rows, -1, 1, head_dim)
        keys[:, :, slot : slot + 1] = key
        values[:, :, slot : slot + 1] = value
        attended = F.scaled_dot_product_attention(
            query, keys, values, attn_mask=key_mask, scale=attention.scaling, enable_gqa=True
        )
        hidden = hidden + linear(attention.o_proj, attended.reshape(rows, 1, -1))
        normed = norm_of(w.layer.post_attention_layernorm, hidden)
        if w.gate_up is not None:
            gate, up = F.linear(normed, w.gate_up).chunk(2, dim=-1)
            hidden = hidden + linear(mlp.down_proj, mlp.act_fn(gate) * up)
        else:
            hidden = hidden + mlp(normed)
    return norm_of(text.norm, hidden)


def linear(module: Any, x: torch.Tensor) -> torch.Tensor:
    """`module(x)`, straight to `F.linear` for a plain `nn.Linear` (a LoRA layer keeps its call)."""
    if type(module) is torch.nn.Linear:
        return F.linear(x, module.weight, module.bias)
    return module(x)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of `x` `[B, heads, 1, Dh]` (transformers' `apply_rotary_pos_emb`)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def norm_of(norm: Any, x: torch.Tensor) -> torch.Tensor:
    """`norm(x)`; a float32 Qwen RMSNorm as one fused op (the same math: x / rms(x) * weight)."""
    if x.dtype == torch.float32 and hasattr(norm, "variance_epsilon"):
        return F.rms_norm(x, norm.weight.shape, norm.weight, norm.variance_epsilon)
    return norm(x)
