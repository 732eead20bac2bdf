"""`tiny_qwen2_5_vl`: a randomly initialised Qwen2.5-VL small enough to train on 2 CPU cores.

Same architecture, special tokens, chat template and processor as Qwen2.5-VL-7B-Instruct, only
smaller: a byte-level BPE tokenizer (~512 tokens) trained on the run's own texts, a 2-layer
text model and a 1-layer vision tower (~0.7 M parameters). It is written to disk as an ordinary
HF checkpoint and loaded with `load_vlm`, the code path a real checkpoint takes, so every stage
can be exercised end to end without a download.

Image tokens: patch 14 px, 2x2 patches merge into one token, so a 56x56 image costs 4 tokens
and 112x112 costs 16 (the default pixel budget keeps every image in that range).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from vrl.errors import ConfigError
from vrl.model.base import LoadedVLM, check_load_options, load_vlm, save_vlm
from vrl.model.processor import QwenVLProcessor

log = logging.getLogger(__name__)

# Qwen's special tokens, in Qwen's id order (they follow the BPE vocabulary).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Reasoning-format markers: ordinary added tokens (decoded even with skip_special_tokens).
FORMAT_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")

# The chat template shipped with Qwen2.5-VL-*-Instruct (chat_template.json), verbatim.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Same split regex as Qwen2's tokenizer, so words/digits/punctuation segment the same way.
_PRETOKENIZE_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# Always in the tokenizer's training texts: what the chat template itself writes.
_TEMPLATE_TEXTS = ("system\nYou are a helpful assistant.\n", "user\n", "assistant\n")


class TinyQwen25VL:
    """The `tiny_qwen2_5_vl` model option (see module docstring).

    Args:
        hidden_size / num_hidden_layers / num_attention_heads / num_key_value_heads /
            intermediate_size: text decoder shape (head_dim = hidden_size / num_attention_heads).
        mrope_section: rotary dims given to (time, height, width); must sum to head_dim / 2.
        vision_depth / vision_hidden_size / vision_num_heads / vision_intermediate_size: ViT shape.
        vocab_size: target tokenizer size including special tokens (fewer if the corpus is small).
        seed: weight init and nothing else (the tokenizer is deterministic given the corpus).
        min_pixels / max_pixels: per-image pixel budget; defaults give 4..16 tokens per image.
        dtype / attn_implementation / gradient_checkpointing / lora: as in `load_vlm`.
    """

    name = "tiny_qwen2_5_vl"

    def __init__(
        self,
        hidden_size: int = 128,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 4,
        num_key_value_heads: int = 2,
        intermediate_size: int = 256,
        mrope_section: Sequence[int] = (4, 6, 6),
        vision_depth: int = 2,
        vision_hidden_size: int = 128,
        vision_num_heads: int = 2,
        vision_intermediate_size: int = 256,
        vocab_size: int = 512,
        seed: int = 0,
        min_pixels: int = 56 * 56,
        max_pixels: int = 112 * 112,
        dtype: str = "float32",
        attn_implementation: str = "sdpa",
        gradient_checkpointing: bool = False,
        lora: dict[str, Any] | None = None,
    ):
        self.arch = {
            "hidden_size": int(hidden_size),
            "num_hidden_layers": int(num_hidden_layers),
            "num_attention_heads": int(num_attention_heads),
            "num_key_value_heads": int(num_key_value_heads),
            "intermediate_size": int(intermediate_size),
            "mrope_section": [int(x) for x in mrope_section],
            "vision_depth": int(vision_depth),
            "vision_hidden_size": int(vision_hidden_size),
            "vision_num_heads": int(vision_num_heads),
            "vision_intermediate_size": int(vision_intermediate_size),
            "vocab_size": int(vocab_size),
            "seed": int(seed),
        }
        _validate(self.arch)
        check_load_options(dtype, attn_implementation, lora, min_pixels, max_pixels)
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.dtype, self.attn_implementation = dtype, attn_implementation
        self.gradient_checkpointing, self.lora = gradient_checkpointing, lora

    def resolve(self, work_dir: Path, corpus: Iterable[str]) -> str:
        """Build into `work_dir/tiny_qwen2_5_vl-<hash of arch>` unless already there; return it.

        The corpus is only read when building. The build goes to a temporary sibling and is
        renamed into place, so an interrupted build is never mistaken for a finished one.
        """
        digest = hashlib.sha1(json.dumps(self.arch, sort_keys=True).encode()).hexdigest()[:8]
        out = Path(work_dir) / f"{self.name}-{digest}"
        if (out / "config.json").is_file():
            log.info("reusing tiny model at %s", out)
            return str(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        try:
            self.build(tmp, corpus)
            tmp.rename(out)
        except OSError:
            if not (out / "config.json").is_file():  # not a lost race with a parallel build
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return str(out)

    def build(self, out_dir: Path, corpus: Iterable[str]) -> None:
        """Train the tokenizer on `corpus`, initialise the model, save both to `out_dir`."""
        start = time.perf_counter()
        tokenizer = build_tokenizer(corpus, self.arch["vocab_size"])
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        image_processor = Qwen2VLImageProcessorPil(min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        processor = QwenVLProcessor(image_processor, tokenizer, chat_template=QWEN2_5_VL_CHAT_TEMPLATE)
        model = build_model(self.arch, tokenizer)
        save_vlm(model, processor, out_dir)
        n_params = sum(p.numel() for p in model.parameters())
        log.info("built tiny Qwen2.5-VL (%d params) in %.2fs", n_params, time.perf_counter() - start)

    def load(self, path: str) -> LoadedVLM:
        return load_vlm(
            path,
            dtype=self.dtype,
            attn_implementation=self.attn_implementation,
            gradient_checkpointing=self.gradient_checkpointing,
            lora=self.lora,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        )


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 512):
    """A Qwen2-style byte-level BPE tokenizer trained on `corpus` (any text round-trips).

    Returns a `transformers.Qwen2Tokenizer` (the class real Qwen checkpoints name) with Qwen's
    special tokens after the BPE ids, `<think>`-style format tokens, eos `<|im_end|>` and pad
    `<|endoftext|>` as in Qwen2.5-VL-Instruct.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS) - len(FORMAT_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: nothing is ever unknown
        show_progress=False,
    )
    bpe.train_from_iterator(_with_template_texts(corpus), trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab = dict(model["vocab"])
    for token in SPECIAL_TOKENS:  # fixed ids right after the BPE vocabulary, like Qwen
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[tuple(m) for m in model["merges"]],
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    tokenizer.add_tokens(list(FORMAT_TOKENS))
    tokenizer.chat_template = QWEN2_5_VL_CHAT_TEMPLATE
    return tokenizer


def build_model(arch: dict[str, Any], tokenizer) -> torch.nn.Module:
    """A randomly initialised `Qwen2_5_VLForConditionalGeneration` (float32) for `tokenizer`."""
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": arch["hidden_size"],
            "intermediate_size": arch["intermediate_size"],
            "num_hidden_layers": arch["num_hidden_layers"],
            "num_attention_heads": arch["num_attention_heads"],
            "num_key_value_heads": arch["num_key_value_heads"],
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": arch["mrope_section"],
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": arch["vision_depth"],
            "hidden_size": arch["vision_hidden_size"],
            "num_heads": arch["vision_num_heads"],
            "intermediate_size": arch["vision_intermediate_size"],
            "out_hidden_size": arch["hidden_size"],  # the merger projects into the text width
            "window_size": 112,  # px; images up to 112x112 fit one attention window
            "fullatt_block_indexes": [arch["vision_depth"] - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(arch["seed"])
        model = Qwen2_5_VLForConditionalGeneration(config)
    # Stop on <|im_end|> (end of turn) or <|endoftext|>, as Qwen2.5-VL-Instruct does.
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
    )
    return model


# The smallest vocabulary: every byte (byte-level BPE never meets an unknown character) plus
# Qwen's special tokens and the format tokens.
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS) + len(FORMAT_TOKENS)


def _validate(arch: dict[str, Any]) -> None:
    for key in (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "intermediate_size",
        "vision_depth",
        "vision_hidden_size",
        "vision_num_heads",
        "vision_intermediate_size",
    ):
        if arch[key] < 1:
            raise ConfigError(f"model.{key}={arch[key]} must be >= 1")
    if arch["vocab_size"] < MIN_VOCAB_SIZE:
        raise ConfigError(
            f"model.vocab_size={arch['vocab_size']} must be >= {MIN_VOCAB_SIZE} (256 bytes + "
            f"{MIN_VOCAB_SIZE - 256} special and format tokens)"
        )
    if len(arch["mrope_section"]) != 3 or min(arch["mrope_section"]) < 1:
        raise ConfigError(f"model.mrope_section={arch['mrope_section']} must be three sizes >= 1")
    heads, hidden = arch["num_attention_heads"], arch["hidden_size"]
    if hidden % heads:
        raise ConfigError(f"model.hidden_size={hidden} is not divisible by model.num_attention_heads={heads}")
    if heads % arch["num_key_value_heads"]:
        raise ConfigError(
            f"model.num_attention_heads={heads} is not divisible by model.num_key_value_heads={arch['num_key_value_heads']}"
        )
    half = hidden // heads // 2
    if sum(arch["mrope_section"]) != half:
        raise ConfigError(
            f"model.mrope_section={arch['mrope_section']} sums to {sum(arch['mrope_section'])}; it must sum to "
            f"head_dim/2 = {half} (hidden_size/num_attention_heads/2), e.g. [{half - 2 * (3 * half // 8)}, "
            f"{3 * half // 8}, {3 * half // 8}]"
        )
    if arch["vision_hidden_size"] % arch["vision_num_heads"]:
        raise ConfigError(
            f"model.vision_hidden_size={arch['vision_hidden_size']} is not divisible by "
            f"model.vision_num_heads={arch['vision_num_heads']}"
        )


def _with_template_texts(corpus: Iterable[str]) -> Iterator[str]:
    yield from _TEMPLATE_TEXTS
    yield from corpus
