"""The model layer: model options (`conf/model/*.yaml`), and the shared loader and saver.

`TinyQwen25VL` and `PretrainedVLM` satisfy `VLMSpec`; both load through `load_vlm`, and
`save_vlm` writes checkpoints that `load_vlm` reads back. `load_processor` is the one place that
deals with Qwen-VL processors on machines without torchvision.
"""

from vrl.model.base import LoadedVLM, VLMSpec, load_vlm, save_vlm
from vrl.model.lora import apply_lora
from vrl.model.pretrained import PretrainedVLM, check_model_path
from vrl.model.processor import QwenVLProcessor, load_processor, set_pixel_budget
from vrl.model.tiny import QWEN2_5_VL_CHAT_TEMPLATE, TinyQwen25VL, build_tokenizer

__all__ = [
    "QWEN2_5_VL_CHAT_TEMPLATE",
    "LoadedVLM",
    "PretrainedVLM",
    "QwenVLProcessor",
    "TinyQwen25VL",
    "VLMSpec",
    "apply_lora",
    "build_tokenizer",
    "check_model_path",
    "load_processor",
    "load_vlm",
    "save_vlm",
    "set_pixel_budget",
]
