"""`qwen2_5_vl_7b` / `qwen2_5_vl_72b`: a pretrained checkpoint from the Hub or a local directory.

Hub ids (`Qwen/Qwen2.5-VL-7B-Instruct`) go to `from_pretrained` unchanged; transformers downloads
and caches them (set `HF_HOME` on clusters). A path that looks local must exist and hold a
`config.json`, else a one-line `MissingFileError` names `model.path` and the fix, before any
transformers error about repo ids can appear.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vrl.errors import MissingFileError
from vrl.model.base import LoadedVLM, check_load_options, load_vlm


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
        check_load_options(dtype, attn_implementation, lora, min_pixels, max_pixels)
        self.path = check_model_path(str(path))  # a local path must exist now, not an hour in
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


HUB_TIMEOUT_S = 10.0  # seconds for the hub to answer a pre-flight question

# Weight files `from_pretrained` reads, in the order it looks for them.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def check_checkpoint(path: str, key: str = "model.path") -> None:
    """A local checkpoint directory `from_pretrained` can load: `config.json` parses and every
    weight file is there and whole (safetensors headers read and sizes checked; nothing is
    loaded). One-line MissingFileError naming `key` otherwise."""
    local = Path(check_model_path(path, key))
    if not local.is_dir():
        raise MissingFileError(f"{key}={path} is a file, not a checkpoint directory: give the folder")
    try:
        config = json.loads((local / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise MissingFileError(
            f"{key}={path}: config.json does not parse ({error}); re-save the checkpoint"
        ) from None
    if not isinstance(config, dict):
        raise MissingFileError(f"{key}={path}: config.json is not a JSON object; re-save the checkpoint")
    present = [name for name in WEIGHT_FILES if (local / name).is_file()]
    if not present:
        raise MissingFileError(
            f"{key}={path} has no weights (none of {', '.join(WEIGHT_FILES)}): the checkpoint is "
            "incomplete (a save cut short?); re-save it or point at a complete one"
        )
    for name in present:
        if name.endswith(".index.json"):
            try:
                shards = sorted(set(json.loads((local / name).read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                raise MissingFileError(f"{key}={path}: {name} does not parse ({error})") from None
            missing = [shard for shard in shards if not (local / shard).is_file()]
            if missing:
                raise MissingFileError(f"{key}={path}: {name} lists {missing[0]}, which is missing")
            files = [shard for shard in shards if shard.endswith(".safetensors")]
        else:
            files = [name] if name.endswith(".safetensors") else []
        for file in files:
            problem = safetensors_problem(local / file)
            if problem:
                raise MissingFileError(
                    f"{key}={path}: {file} is not a valid safetensors file ({problem}); the checkpoint "
                    "is corrupt or was cut short: re-save or re-download it"
                )


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a whole safetensors file (header unreadable, tensors beyond its end), or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"{size} bytes, shorter than a header"
            length = int.from_bytes(head, "little")
            if length <= 0 or length > min(size - 8, 100_000_000):
                return f"header length {length} does not fit a {size}-byte file"
            header = json.loads(handle.read(length))
    except (OSError, ValueError) as error:
        return f"header does not parse: {type(error).__name__}"
    if not isinstance(header, dict):
        return "header is not a JSON object"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(entry["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            return f"tensor {name!r} has no data_offsets"
    if 8 + length + end > size:
        return f"its tensors need {8 + length + end} bytes but the file has {size}"
    return None


def check_hub_repo(repo_id: str, key: str, repo_type: str = "model") -> None:
    """A hub id that is in the local cache, or that the hub answers for; one line otherwise
    (no network, unknown id, gated). Nothing is downloaded."""
    if _hub_cached(repo_id, repo_type):
        return
    fix = (
        f"download it where this runs (hf download {repo_id}{' --repo-type dataset' if repo_type == 'dataset' else ''} "
        f"--local-dir DIR) and set {key}=DIR"
    )
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise MissingFileError(
            f"{key}={repo_id} is not in the local hub cache and HF_HUB_OFFLINE is set: {fix}"
        )
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        info = huggingface_hub.dataset_info if repo_type == "dataset" else huggingface_hub.model_info
        info(repo_id, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:  # a RepositoryNotFoundError too: first
        raise MissingFileError(
            f"{key}={repo_id} is gated on the hub: accept its terms and log in (hf auth login), or {fix}"
        ) from None
    except RepositoryNotFoundError:
        raise MissingFileError(
            f"{key}={repo_id}: no such {repo_type} on the hub (or it is private): check the id"
        ) from None
    except Exception as error:  # noqa: BLE001 - any network failure: the hub is out of reach
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise MissingFileError(
            f"{key}={repo_id} is not in the local hub cache and the hub cannot be reached ({first}): {fix}"
        ) from None


def _hub_cached(repo_id: str, repo_type: str) -> bool:
    """The hub cache (or, for datasets, the datasets cache) holds something of `repo_id`."""
    from huggingface_hub.constants import HF_HUB_CACHE

    folder = f"{repo_type}s--{repo_id.replace('/', '--')}"
    if (Path(HF_HUB_CACHE) / folder / "snapshots").is_dir():
        return True
    if repo_type == "dataset":
        datasets_cache = Path(os.environ.get("HF_DATASETS_CACHE", Path(HF_HUB_CACHE).parent / "datasets"))
        return (datasets_cache / repo_id.replace("/", "___")).is_dir()
    return False
