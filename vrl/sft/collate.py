"""Turn samples into training tensors: the model's own chat template, and a per-token loss mask.

The prompt (system + user turns with images) is encoded by the processor, so image tokens are
expanded exactly as at generation time. The assistant turn is a list of segments, each
trainable or not: an SFT target is one trainable segment; a tool trajectory (`Sample.response`)
alternates policy text (trainable) with tool output (masked out of the loss). `<image>` in a
segment is the next of `Sample.response_images` (a sandbox's or zoom's output image): it is
expanded to the chat template's image tokens, and its pixels follow the prompt's in the batch,
exactly as the multi-turn rollout builds a row (`vrl.rollout.multiturn`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vrl.data.schema import IMAGE_PLACEHOLDER, Sample, chat_messages

_SENTINEL = "\u2063vrl-sentinel\u2063"


@dataclass(frozen=True)
class ResponseSegment:
    """A piece of the assistant turn; `images` fill its `<image>` placeholders, in order."""

    text: str
    trainable: bool = True
    images: tuple[Any, ...] = ()


def response_segments(sample: Sample) -> list[ResponseSegment]:
    """`Sample.response` as segments, each with the `response_images` its `<image>`s take.

    Raises ValueError when the placeholders and `response_images` disagree in number."""
    images = list(sample.response_images)
    out = []
    for segment in sample.response:
        k = str(segment["text"]).count(IMAGE_PLACEHOLDER)
        out.append(ResponseSegment(str(segment["text"]), bool(segment["trainable"]), tuple(images[:k])))
        images = images[k:]
    used = sum(len(s.images) for s in out)
    if images or used != sum(str(s["text"]).count(IMAGE_PLACEHOLDER) for s in sample.response):
        raise ValueError(
            f"sample {sample.id}: its response has {used + len(images)} response_images but "
            f"{sum(str(s['text']).count(IMAGE_PLACEHOLDER) for s in sample.response)} <image> placeholders; "
            "give one image per placeholder"
        )
    return out


def render_response(template: str, sample: Sample) -> str:
    """The SFT target text for a sample, e.g. template "\\boxed{{{answer}}}" -> "\\boxed{3}"."""
    return template.format(answer=sample.answer, category=sample.category)


class SFTCollator:
    """Encodes samples into a right-padded batch with `loss_mask`.

    Args:
        processor: the model's processor (tokenizer + image processor + chat template).
        response_template: str.format template of the assistant reply, fields {answer}, {category}.
        max_length: cap on tokens per example; the response is cut, never the prompt (a
            segment with an image is kept whole or dropped with everything after it).
        image_placeholder: the chat template's text for one image, which the processor expands
            (Qwen2.5-VL's `<|vision_start|><|image_pad|><|vision_end|>`).
    Batch keys: processor outputs (input_ids [B,T], attention_mask [B,T], pixel_values,
    image_grid_thw, ...) plus loss_mask [B,T] (1 = trained-on token).
    """

    def __init__(
        self,
        processor: Any,
        response_template: str,
        max_length: int = 1024,
        image_placeholder: str = "<|vision_start|><|image_pad|><|vision_end|>",
    ) -> None:
        self.processor = processor
        self.image_placeholder = image_placeholder
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
            segments = response_segments(sample) if sample.response else None
        if segments is None:
            segments = [ResponseSegment(render_response(self.response_template, sample))]
        segments = [*segments, ResponseSegment(self.end_of_turn(sample), trainable=True)]
        images = [image.convert("RGB") for image in sample.images]
        prompt = self.processor(
            text=[self._prompt_text(messages)], images=images or None, return_tensors="pt"
        )
        prompt_len = prompt["input_ids"].shape[1]
        token_keys = [
            k for k, v in prompt.items() if torch.is_tensor(v) and v.shape == prompt["input_ids"].shape
        ]
        columns: dict[str, list[int]] = {key: [] for key in token_keys}
        mask: list[int] = []
        extra_images: list[dict[str, torch.Tensor]] = []
        room = max(0, self.max_length - prompt_len)
        for segment in segments:
            piece = self._encode_segment(segment, token_keys)
            n = len(piece["input_ids"])
            if segment.images and n > room - len(mask):
                break  # an image's tokens are never cut: drop it and what follows
            take = min(n, room - len(mask))
            for key in token_keys:
                columns[key].extend(piece[key][:take])
            mask.extend([int(segment.trainable)] * take)
            if segment.images:
                extra_images.append(piece["images"])
            if len(mask) >= room:
                break
        example: dict[str, torch.Tensor] = {}
        for key, value in prompt.items():
            if key in columns:
                example[key] = torch.cat([value[0], torch.tensor(columns[key], dtype=value.dtype)])
            else:
                example[key] = (
                    torch.cat([value, *(e[key] for e in extra_images)])
                    if key in ("pixel_values", "image_grid_thw")
                    else value
                )
        for key in ("pixel_values", "image_grid_thw"):
            if key not in example and extra_images:  # a text-only prompt with tool images
                example[key] = torch.cat([e[key] for e in extra_images])
        example["loss_mask"] = torch.tensor([0] * prompt_len + mask, dtype=torch.long)
        return example

    def _encode_segment(self, segment: ResponseSegment, token_keys: list[str]) -> dict[str, Any]:
        """Per-token lists for every key in `token_keys` (+ "images": the pixel tensors)."""
        if not segment.images:
            ids = self.processor.tokenizer(segment.text, add_special_tokens=False)["input_ids"]
            fill = {"attention_mask": 1}
            return {key: ids if key == "input_ids" else [fill.get(key, 0)] * len(ids) for key in token_keys}
        text = segment.text.replace(IMAGE_PLACEHOLDER, self.image_placeholder)
        encoded = self.processor(
            text=[text], images=[im.convert("RGB") for im in segment.images], return_tensors="pt"
        )
        out: dict[str, Any] = {
            key: encoded[key][0].tolist() if key in encoded else [0] * encoded["input_ids"].shape[1]
            for key in token_keys
        }
        out["images"] = {k: encoded[k] for k in ("pixel_values", "image_grid_thw")}
        return out

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
