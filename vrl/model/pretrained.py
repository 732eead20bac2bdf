"""`qwen2_5_vl_7b` / `qwen2_5_vl_72b`: a pretrained checkpoint from the Hub or a local directory.

Hub ids (`Qwen/Qwen2.5-VL-7B-Instruct`) go to `from_pretrained` unchanged; transformers downloads
and caches them (set `HF_HOME` on clusters). A path that looks local must exist and hold a
`config.json`, else a one-line `MissingFileError` names `model.path` and the fix, before any
transformers error about repo ids can appear.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vrl.errors import MissingFileError
from vrl.model.base import LoadedVLM, load_vlm


class PretrainedVLM:
    """A pretrained Qwen2/2.5-VL (or other image-text-to-text) checkpoint.

    Args:
        path: hub id ("org/name") or local checkpoint directory.
        dtype: "bfloat16" | "float16" | "float32" | "auto".
        attn_implementation: "sdpa", or "flash_attention_2" on GPUs with flash-attn installed.
        gradient_checkpointing: recompute activations in backward to save memory.
        lora: None (full fine-tuning) or `{"r", "alpha", "dropout", "target_modules"}`.
        min_pixels / max_pixels: per-image pixel budget (None: the checkpoint's own).
        trust_remote_code: allow model code shipped with the checkpoint.
    """

    def __init__(
        self,
        path: str,
        dtype: str = "bfloat16",
        attn_implementation: str = "sdpa",
        gradient_checkpointing: bool = False,
        lora: dict[str, Any] | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        trust_remote_code: bool = False,
    ):
        self.path = str(path)
        self.name = Path(self.path.rstrip("/")).name
        self.dtype, self.attn_implementation = dtype, attn_implementation
        self.gradient_checkpointing, self.lora = gradient_checkpointing, lora
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.trust_remote_code = trust_remote_code

    def resolve(self, work_dir: Path, corpus: Iterable[str]) -> str:
        """The hub id unchanged, or the checked, user-expanded local directory (corpus unused)."""
        return check_model_path(self.path)

    def load(self, path: str) -> LoadedVLM:
        return load_vlm(
            check_model_path(path),
            dtype=self.dtype,
            attn_implementation=self.attn_implementation,
            gradient_checkpointing=self.gradient_checkpointing,
            lora=self.lora,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
            trust_remote_code=self.trust_remote_code,
        )


def looks_local(path: str) -> bool:
    """True if `path` is meant as a filesystem path rather than a hub id ("org/name").

    Local: starts with / . ~, has more than one "/" (hub ids have at most one), or its first
    component exists on disk (e.g. `outputs/run1/ckpt` when `outputs/` exists).
    """
    if path.startswith(("/", ".", "~")) or path.count("/") > 1:
        return True
    return Path(Path(path).parts[0]).exists() if path else False


def check_model_path(path: str, key: str = "model.path") -> str:
    """Return `path` (user-expanded if local); raise a one-line MissingFileError if a local
    path is missing or is not a checkpoint directory."""
    if not looks_local(path):
        return path
    local = Path(path).expanduser()
    if not local.exists():
        raise MissingFileError(
            f"{key}={path} does not exist; download the checkpoint there "
            f"(huggingface-cli download Qwen/Qwen2.5-VL-7B-Instruct --local-dir {path}) "
            f"or set {key} to a hub id or an existing checkpoint directory"
        )
    if not (local / "config.json").is_file():
        raise MissingFileError(
            f"{key}={path} has no config.json, so it is not a checkpoint directory; "
            f"point {key} at the folder that holds config.json and the *.safetensors files"
        )
    return str(local)
