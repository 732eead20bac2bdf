"""The one place that builds, loads and saves Qwen2/2.5-VL processors (image + text, no video).

Why this module exists: transformers' `Qwen2_5_VLProcessor` requires a video processor, and the
video processor (like the "fast" image processor) needs torchvision, which has no CPU build on
PyPI. `Qwen2_5_VLProcessor(..., video_processor=None)` raises and `save_pretrained` fails. vrl only
feeds images, so `QwenVLProcessor` declares just `image_processor` + `tokenizer`; everything else
(placeholder expansion `<|image_pad|>` -> N tokens, `mm_token_type_ids`, chat templates) is
inherited unchanged.

Loading rules (`load_processor`):
- Always load through `QwenVLProcessor.from_pretrained`: `AutoProcessor.from_pretrained` on a
  directory saved by this class returns only the tokenizer (the class is not registered).
- Works on the Hub layout of a real checkpoint (`preprocessor_config.json`, `tokenizer.json`,
  `tokenizer_config.json`, `chat_template.json`) and on the layout `save_pretrained` writes
  (`processor_config.json`, `chat_template.jinja`).
- If the automatic image processor cannot be built (older transformers pick the torchvision
  "fast" class), fall back to the PIL `Qwen2VLImageProcessorPil` built from the same files.

Image sizes: the image processor resizes each image so that height and width are multiples of
28 px (patch 14 x merge 2) and `min_pixels <= h*w <= max_pixels`; one image then costs
`h*w / 28**2` tokens (e.g. 112x112 px -> 16 tokens).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from transformers import AutoTokenizer, Qwen2_5_VLProcessor
from transformers.processing_utils import ProcessorMixin

log = logging.getLogger(__name__)

# Saved as `processor_class` so that a machine with torchvision (e.g. a vLLM rollout worker)
# builds the stock processor from our output directory with `AutoProcessor`.
_STOCK_PROCESSOR_CLASS = "Qwen2_5_VLProcessor"


class QwenVLProcessor(Qwen2_5_VLProcessor):
    """Qwen2/2.5-VL processor with an image processor and a tokenizer only (no video processor).

    Call it like the stock processor: `processor(text=[...], images=[...], padding=True,
    return_tensors="pt")` returns `input_ids` / `attention_mask` / `mm_token_type_ids` (B, T),
    `pixel_values` (sum of patches over images, 3*2*14*14=1176 floats) and `image_grid_thw`
    (n_images, 3). Pass the whole output to the model's forward or generate.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        # The signature is what ProcessorMixin reads to decide which sub-processors exist, so it
        # must not mention video. Qwen2_5_VLProcessor.__init__ would pass a video processor on,
        # hence we set its token attributes here and call ProcessorMixin directly.
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = getattr(tokenizer, "image_token_id", None) or tokenizer.convert_tokens_to_ids(
            self.image_token
        )
        self.video_token_id = getattr(tokenizer, "video_token_id", None) or tokenizer.convert_tokens_to_ids(
            self.video_token
        )
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    def to_dict(self):
        out = super().to_dict()
        out["processor_class"] = _STOCK_PROCESSOR_CLASS
        return out

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Write the processor in both layouts: `processor_config.json` (transformers 5) and the
        Hub's `preprocessor_config.json` (image processor alone), so any loader finds it."""
        files = super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        self.image_processor.save_pretrained(save_directory)
        # The tokenizer records the processor class; name the stock one (see _STOCK_PROCESSOR_CLASS).
        for name in ("tokenizer_config.json", "preprocessor_config.json"):
            path = Path(save_directory) / name
            if path.exists():
                cfg = json.loads(path.read_text())
                cfg["processor_class"] = _STOCK_PROCESSOR_CLASS
                path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        return files


def load_processor(
    path: str, min_pixels: int | None = None, max_pixels: int | None = None
) -> QwenVLProcessor:
    """Load the image+text processor of a Qwen2/2.5-VL checkpoint (local dir or hub id).

    Args:
        path: directory or hub id holding tokenizer files, an image processor config and a chat
            template.
        min_pixels / max_pixels: per-image pixel budget (h*w after resize); None keeps the
            checkpoint's value. Tokens per image = h*w / 784.

    Returns a `QwenVLProcessor` whose tokenizer pads on the left.
    """
    try:
        processor = QwenVLProcessor.from_pretrained(path)
    except ImportError as err:  # torchvision-only image processor class chosen by AutoImageProcessor
        log.warning("falling back to the PIL Qwen2-VL image processor for %s (%s)", path, err)
        processor = _load_with_pil_image_processor(path)
    set_pixel_budget(processor, min_pixels, max_pixels)
    # Left padding: batched prompts must all end at the last position so generation appends
    # after every prompt; Qwen2.5-VL's rope positions follow the attention mask either way.
    processor.tokenizer.padding_side = "left"
    return processor


def set_pixel_budget(processor: QwenVLProcessor, min_pixels: int | None, max_pixels: int | None) -> None:
    """Set the per-image pixel range in place (None leaves a bound unchanged)."""
    ip = processor.image_processor
    size = dict(ip.size) if ip.size is not None else {}
    if min_pixels is not None:
        size["shortest_edge"] = int(min_pixels)
    if max_pixels is not None:
        size["longest_edge"] = int(max_pixels)
    if (
        size.get("shortest_edge")
        and size.get("longest_edge")
        and size["shortest_edge"] > size["longest_edge"]
    ):
        from vrl.errors import ConfigError

        raise ConfigError(
            f"model.min_pixels={size['shortest_edge']} is larger than model.max_pixels={size['longest_edge']}; "
            "set min_pixels <= max_pixels"
        )
    # transformers 5 reads `size`; older versions read the `min_pixels`/`max_pixels` attributes.
    ip.size = type(ip.size)(**size) if ip.size is not None else size
    for attr, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None and hasattr(ip, attr):
            setattr(ip, attr, int(value))


def _load_with_pil_image_processor(path: str) -> QwenVLProcessor:
    """Build the processor from parts, forcing the PIL image processor (no torchvision needed)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = AutoTokenizer.from_pretrained(path)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(path)
    chat_template = tokenizer.chat_template
    legacy = Path(path) / "chat_template.json"  # Hub layout keeps the processor template here
    if legacy.is_file():
        chat_template = json.loads(legacy.read_text())["chat_template"]
    return QwenVLProcessor(image_processor, tokenizer, chat_template=chat_template)
