"""`hf` rollout engine: batched `model.generate` with the KV cache, on any device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from vrl.data.schema import Sample, chat_messages


class HFRolloutEngine:
    """Batched generation with transformers.

    Args:
        batch_size: prompts per `generate` call (each expanded `n` times).
        max_new_tokens: response length cap, in tokens.
        temperature: 0 = greedy decoding.
        top_p, top_k, repetition_penalty: the usual sampling knobs (top_k 0 = off).
        stop: extra stop strings (generation also stops at the tokenizer's EOS).
    """

    def __init__(
        self,
        batch_size: int = 16,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        repetition_penalty: float = 1.0,
        stop: list[str] | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.defaults = {
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k,
            "repetition_penalty": repetition_penalty,
            "stop": list(stop or []),
        }

    def generate(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int = 1, **sampling: Any
    ) -> list[str]:
        """One response per (sample, repeat), samples-major. `sampling` overrides the defaults."""
        settings = {**self.defaults, **{k: v for k, v in sampling.items() if v is not None}}
        responses: list[str] = []
        for start in range(0, len(samples), self.batch_size):
            batch = list(samples[start : start + self.batch_size])
            responses.extend(self._generate_batch(model, processor, batch, n, settings))
        return responses

    @torch.no_grad()
    def _generate_batch(
        self, model: Any, processor: Any, batch: list[Sample], n: int, settings: dict[str, Any]
    ) -> list[str]:
        inputs = encode_prompts(processor, batch, padding_side="left").to(model.device)
        greedy = settings["temperature"] <= 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": settings["max_new_tokens"],
            "do_sample": not greedy,
            "num_return_sequences": n,
            "pad_token_id": processor.tokenizer.pad_token_id,
            "repetition_penalty": settings["repetition_penalty"],
        }
        if not greedy:
            kwargs.update(
                temperature=settings["temperature"], top_p=settings["top_p"], top_k=settings["top_k"]
            )
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if settings["stop"]:
            kwargs.update(stop_strings=settings["stop"], tokenizer=processor.tokenizer)
        was_training = model.training
        model.eval()
        output = model.generate(**inputs, **kwargs)
        model.train(was_training)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)


def encode_prompts(processor: Any, samples: Sequence[Sample], padding_side: str = "left") -> Any:
    """Processor inputs for a batch of prompts (chat template + generation prompt, images expanded)."""
    texts = [
        processor.apply_chat_template(chat_messages(s), add_generation_prompt=True, tokenize=False)
        for s in samples
    ]
    images = [image.convert("RGB") for s in samples for image in s.images]
    processor.tokenizer.padding_side = padding_side
    return processor(text=texts, images=images or None, padding=True, return_tensors="pt")
