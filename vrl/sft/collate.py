"""Turn samples into training tensors: the model's own chat template, and a per-token loss mask.

The prompt (system + user turns with images) is encoded by the processor, so image tokens are
expanded exactly as at generation time. The assistant turn is a list of segments, each
trainable or not: an SFT target is one trainable segment; a tool trajectory (later) alternates
policy text (trainable) with tool output (masked out of the loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vrl.data.schema import Sample, chat_messages

_SENTINEL = "\u2063vrl-sentinel\u2063"


@dataclass(frozen=True)
class ResponseSegment:
    text: str
    trainable: bool = True


def render_response(template: str, sample: Sample) -> str:
    """The SFT target text for a sample, e.g. template "\\boxed{{{answer}}}" -> "\\boxed{3}"."""
    return template.format(answer=sample.answer, category=sample.category)


class SFTCollator:
    """Encodes samples into a right-padded batch with `loss_mask`.

    Args:
        processor: the model's processor (tokenizer + image processor + chat template).
        response_template: str.format template of the assistant reply, fields {answer}, {category}.
        max_length: cap on tokens per example; the response is cut, never the prompt.
    Batch keys: processor outputs (input_ids [B,T], attention_mask [B,T], pixel_values,
    image_grid_thw, ...) plus loss_mask [B,T] (1 = trained-on token).
    """

    def __init__(self, processor: Any, response_template: str, max_length: int = 1024) -> None:
        self.processor = processor
        self.response_template = response_template
        self.max_length = max_length
        self._end_of_turn: str | None = None

    def end_of_turn(self, sample: Sample) -> str:
        """What the chat template writes after an assistant reply (e.g. "<|im_end|>\\n")."""
        if self._end_of_turn is None:
            messages = chat_messages(sample)
            prompt = self._prompt_text(messages)
            full = self.processor.apply_chat_template(
                messages + [{"role": "assistant", "content": [{"type": "text", "text": _SENTINEL}]}],
                tokenize=False,
            )
            self._end_of_turn = full[len(prompt) :].split(_SENTINEL, 1)[1]
        return self._end_of_turn

    def encode(
        self, sample: Sample, segments: Sequence[ResponseSegment] | None = None
    ) -> dict[str, torch.Tensor]:
        """One example: 1-D tensors, prompt tokens masked out, response tokens masked in per segment."""
        messages = chat_messages(sample)
        if segments is None:
            segments = [ResponseSegment(render_response(self.response_template, sample))]
        segments = [*segments, ResponseSegment(self.end_of_turn(sample), trainable=True)]
        images = [image.convert("RGB") for image in sample.images]
        prompt = self.processor(
            text=[self._prompt_text(messages)], images=images or None, return_tensors="pt"
        )
        prompt_len = prompt["input_ids"].shape[1]
        ids: list[int] = []
        mask: list[int] = []
        for segment in segments:
            piece = self.processor.tokenizer(segment.text, add_special_tokens=False)["input_ids"]
            ids.extend(piece)
            mask.extend([int(segment.trainable)] * len(piece))
        room = max(0, self.max_length - prompt_len)
        ids, mask = ids[:room], mask[:room]
        example: dict[str, torch.Tensor] = {}
        for key, value in prompt.items():
            if torch.is_tensor(value) and value.dim() == 2 and value.shape == prompt["input_ids"].shape:
                fill = ids if key == "input_ids" else [1 if key == "attention_mask" else 0] * len(ids)
                example[key] = torch.cat([value[0], torch.tensor(fill, dtype=value.dtype)])
            else:
                example[key] = value
        example["loss_mask"] = torch.tensor([0] * prompt_len + mask, dtype=torch.long)
        return example

    def __call__(self, records: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_batch(
            [self.encode(Sample.from_record(r)) for r in records], self.processor.tokenizer.pad_token_id
        )

    def _prompt_text(self, messages: list[dict[str, Any]]) -> str:
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def pad_batch(examples: list[dict[str, torch.Tensor]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad per-token keys to the longest example; concatenate image tensors along dim 0."""
    length = max(e["input_ids"].shape[0] for e in examples)
    batch: dict[str, torch.Tensor] = {}
    keys = list(dict.fromkeys(k for e in examples for k in e))  # text-only examples lack image keys
    for key in keys:
        values = [e[key] for e in examples if key in e]
        if values[0].dim() == 1:
            fill = pad_token_id if key == "input_ids" else 0
            batch[key] = torch.stack(
                [torch.cat([v, torch.full((length - v.shape[0],), fill, dtype=v.dtype)]) for v in values]
            )
        else:
            batch[key] = torch.cat(values, dim=0)
    return batch
