"""One RL step and one SFT step of a Qwen2.5-VL-7B-shaped policy with random weights: peak
memory, step time and actor-update MFU. `scripts/gpu_check.sh` runs it on a GPU; the test lane
runs its `--tiny --device cpu` mode (tests/test_gpu_check_script.py).

    python scripts/gpu_check.py [--device cuda|cpu] [--tiny] [--out results.json]

What runs is vrl's own code: `vrl.rl.module.RLModule` and `vrl.sft.module.SFTModule` in a
Lightning Trainer built by `vrl.trainer.TrainerSettings` (strategy fsdp2 = `fully_shard` of
every decoder layer and vision block, one device), hf rollouts (`vrl.rollout.HFRolloutEngine`),
the shipped `algorithm=dr_grpo` / `replay=none` / `rethink=none` / `reward=format` options,
gradient checkpointing as `vrl.model.load_vlm` enables it, and the tokenizer and processor of
`vrl.model.tiny`. Simplifications, stated:
- The model is built in memory from the Qwen2.5-VL-7B-Instruct config values (`QWEN2_5_VL_7B`,
  random init, no download), 8.29 B parameters; the tokenizer is vrl's tiny byte-level BPE
  (~500 ids), so sampled ids above it decode to nothing: the rewards are constant, the
  advantages zero, and the update still runs its full forward and backward.
- AdamW is `fused=True` on CUDA: the default (foreach) allocates one temporary the size of all
  parameters (the sqrt of v) in `step`, 15.4 GiB for 7B, which does not fit beside weights,
  gradients and two moments (4 x 15.4 GiB) on one 80 GB GPU. vrl's modules keep the default.
- Two steps each; the second is reported (the first includes allocator and kernel warm-up).

MFU of the actor update (forward + backward of the policy loss, gradient sync, clip, optimizer
step; rollout and weight sync excluded), model FLOPs only (recomputation by gradient
checkpointing not counted):

    FLOPs = 6 * N_body * T_seq + 6 * N_head * T_head + 6 * N_vit * T_patch + 12 * L * d * sum_i(s_i^2)

N_body: text decoder parameters without the input embedding (a lookup) and the LM head; T_seq:
real (unpadded) tokens of the trained sequences, prompt with its image tokens plus response;
N_head: LM head parameters (vocab x d); T_head: tokens the LM head scores (RL: response tokens
+ 1 per row, `logits_to_keep`; SFT: every token); N_vit: vision tower with its merger; T_patch:
ViT patches (4 per image token); the last term is attention's scores and weighted sum (L layers,
width d, sequence lengths s_i). MFU = FLOPs / seconds / peak dense bf16 FLOP/s (H100 and H200
SXM: 989 TFLOP/s; `--peak-tflops` for another device).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's vrl, installed or not

# Qwen/Qwen2.5-VL-7B-Instruct config.json, the values that shape compute and memory.
QWEN2_5_VL_7B: dict[str, Any] = {
    "text": {
        "vocab_size": 152064,
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 128000,
        "mrope_section": [16, 24, 24],
        "rope_theta": 1e6,
    },
    "vision": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 3584,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    },
}
# The same architecture at the size of vrl's tiny default (CPU mode of the test lane).
TINY: dict[str, Any] = {
    "text": {
        **QWEN2_5_VL_7B["text"],
        "vocab_size": 1024,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "mrope_section": [2, 3, 3],
    },
    "vision": {
        **QWEN2_5_VL_7B["vision"],
        "depth": 2,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 2,
        "out_hidden_size": 64,
        "fullatt_block_indexes": [1],
    },
}
WRAP_LAYERS = [
    "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl.Qwen2_5_VLDecoderLayer",
    "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl.Qwen2_5_VLVisionBlock",
]
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def build_policy(shape: dict[str, Any], tokenizer: Any, device: str, dtype: torch.dtype) -> torch.nn.Module:
    """A randomly initialised `Qwen2_5_VLForConditionalGeneration` of `shape`, made on `device`
    in `dtype` (no CPU copy of a 7B model), with gradient checkpointing on; special token ids
    are `tokenizer`'s (vrl's tiny tokenizer: Qwen's special tokens after its BPE ids)."""
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from vrl.model.tiny import SPECIAL_TOKENS

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text, vision = dict(shape["text"]), dict(shape["vision"])
    mrope, theta = text.pop("mrope_section"), text.pop("rope_theta")
    config = Qwen2_5_VLConfig(
        text_config={
            **text,
            "rope_parameters": {"rope_type": "default", "rope_theta": theta, "mrope_section": mrope},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            torch.manual_seed(0)
            model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
    )
    # As vrl.model.load_vlm enables it (transformers >= 5.23 renamed the method).
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """N_body, N_head, N_vit and N_embed of the formula (module docstring), in parameters."""
    counts = {"body": 0, "head": 0, "vit": 0, "embed": 0}
    for name, p in model.named_parameters():
        if ".visual." in f".{name}":
            counts["vit"] += p.numel()
        elif name.startswith("lm_head"):
            counts["head"] += p.numel()
        elif "embed_tokens" in name:
            counts["embed"] += p.numel()
        else:
            counts["body"] += p.numel()
    return counts


def update_flops(
    counts: dict[str, int], layers: int, width: int, seq_lens: list[int], head_tokens: int, patches: int
) -> float:
    """Model FLOPs of one forward + backward (module docstring); `seq_lens`: real tokens per row."""
    tokens = sum(seq_lens)
    attention = 12 * layers * width * sum(s * s for s in seq_lens)
    return (
        6.0 * (counts["body"] * tokens + counts["head"] * head_tokens + counts["vit"] * patches) + attention
    )


class Meter:
    """Wall seconds (device synchronised) and peak memory per step, and one phase inside."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.steps: list[dict[str, float]] = []

    def sync(self) -> float:
        if self.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def peak_gib(self) -> float | None:
        """Peak memory torch allocated on the GPU since `reset` (None on CPU: not tracked)."""
        return torch.cuda.max_memory_allocated() / 2**30 if self.device == "cuda" else None

    def reset(self) -> None:
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()


def callbacks(meter: Meter) -> list:
    from lightning.pytorch.callbacks import Callback

    class StepClock(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            meter.reset()
            self.start = meter.sync()
            meter.steps.append({})

        def on_train_batch_end(self, trainer, module, *args):
            meter.steps[-1]["step_s"] = meter.sync() - self.start
            meter.steps[-1]["peak_gib"] = meter.peak_gib()

    return [StepClock()]


def trainer(args: argparse.Namespace, out: Path, meter: Meter, **schedule: Any):
    from vrl.trainer import TrainerSettings

    settings = TrainerSettings(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        strategy="fsdp2",
        precision="bf16-true" if args.device == "cuda" else "32-true",
        enable_progress_bar=False,
        fsdp_wrap_layers=WRAP_LAYERS,
    )
    return settings.build(
        logger=False,
        enable_checkpointing=False,
        default_root_dir=str(out),
        callbacks=callbacks(meter),
        **schedule,
    )


def shipped(overrides: list[str]) -> Any:
    """vrl's composed config with `overrides` (the shipped options, as `python -m vrl` sees them)."""
    from hydra import compose, initialize_config_dir

    import vrl
    from vrl.defaults import register

    register()
    conf = Path(vrl.__file__).parent / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("config", overrides=["paths.run_dir=/tmp/vrl-gpu-check", *overrides])


def rl_step(args, model, processor, train_dir: Path, out: Path, counts) -> dict[str, Any]:
    """Two RL steps (dr_grpo, hf rollouts); the second's figures."""
    from hydra.utils import instantiate

    from vrl.policy.sampling import Sampling
    from vrl.rl.data import RLDataModule
    from vrl.rl.module import RLModule
    from vrl.rl.settings import RLSettings
    from vrl.rollout.hf import HFRolloutEngine

    cfg = shipped(
        ["algorithm=dr_grpo", "replay=none", "rethink=none", "reward=format", "reward.pool.num_workers=0"]
    )
    meter = Meter(args.device)
    image_token = model.config.image_token_id

    class Measured(RLModule):
        """The update timed on its own, with the sequences it trains on (for the FLOPs)."""

        def _update(self, selected, ref_log_probs, images):
            start = meter.sync()
            metrics = super()._update(selected, ref_log_probs, images)
            step = meter.steps[-1]
            step["update_s"] = meter.sync() - start
            step["seq_lens"] = [len(t.prompt_ids) + len(t.response_ids) for t in selected]
            step["head_tokens"] = sum(len(t.response_ids) + 1 for t in selected)
            step["patches"] = 4 * sum(t.prompt_ids.count(image_token) for t in selected)
            return metrics

        def configure_optimizers(self):
            params = [p for p in self.model.parameters() if p.requires_grad]
            fused = args.device == "cuda"
            return torch.optim.AdamW(params, lr=self.settings.lr, fused=fused)

    module = Measured(
        model,
        processor,
        HFRolloutEngine(
            batch_size=args.prompts * args.group,
            sampling=Sampling(max_new_tokens=args.new_tokens, temperature=1.0, top_p=1.0),
        ),
        instantiate(cfg.reward, _convert_="all"),
        instantiate(cfg.algorithm, _convert_="all"),
        instantiate(cfg.replay, _convert_="all"),
        instantiate(cfg.rethink, _convert_="all"),
        RLSettings(
            prompts_per_step=args.prompts,
            group_size=args.group,
            max_steps=2,
            lr=1e-6,
            micro_batch_size=args.micro_batch,
        ),
    )
    trainer(args, out / "rl", meter, max_steps=-1, max_epochs=-1).fit(
        module, datamodule=RLDataModule(train_dir, args.prompts, seed=0)
    )
    return meter.steps[-1]


def sft_step(args, model, processor, train_dir: Path, out: Path) -> dict[str, Any]:
    """Two SFT steps (one micro-batch each); the second's figures."""
    from vrl.sft.collate import SFTCollator
    from vrl.sft.datamodule import SFTDataModule
    from vrl.sft.module import SFTModule
    from vrl.sft.settings import SFTSettings

    meter = Meter(args.device)
    settings = SFTSettings(
        val_dataset=None, max_steps=2, batch_size=args.sft_batch, accumulate_grad_batches=1, warmup_steps=0
    )

    class Measured(SFTModule):
        def training_step(self, batch, batch_idx):
            step = meter.steps[-1]
            mask = batch["attention_mask"]
            step["seq_lens"] = mask.sum(dim=1).tolist()
            step["head_tokens"] = int(mask.sum())
            step["patches"] = int(batch["pixel_values"].shape[0]) if "pixel_values" in batch else 0
            return super().training_step(batch, batch_idx)

        def configure_optimizers(self):
            fused = args.device == "cuda"
            return torch.optim.AdamW([p for p in self.parameters() if p.requires_grad], lr=1e-5, fused=fused)

    collator = SFTCollator(processor, settings.response_template, max_length=args.sft_max_length)
    data = SFTDataModule(train_dir, None, collator, settings.batch_size, seed=0, num_workers=0)
    schedule = {"limit_val_batches": 0, "gradient_clip_val": 1.0, "use_distributed_sampler": False}
    trainer(args, out / "sft", meter, max_steps=2, **schedule).fit(Measured(model, settings), datamodule=data)
    step = meter.steps[-1]
    step["update_s"] = step["step_s"]  # an SFT step is all update
    return step


def prompts_dataset(out: Path, count: int, image_size: int) -> Path:
    from datasets import Dataset

    from vrl.data.procedural import ProceduralSource
    from vrl.data.schema import hf_features

    samples = list(ProceduralSource(num_samples=count, image_size=image_size).iter_samples())
    path = out / "train"
    Dataset.from_list([s.to_record() for s in samples], features=hf_features()).save_to_disk(str(path))
    return path


def report(name: str, step: dict[str, Any], counts, shape, peak_tflops: float | None) -> dict[str, Any]:
    text = shape["text"]
    flops = update_flops(
        counts,
        text["num_hidden_layers"],
        text["hidden_size"],
        step["seq_lens"],
        step["head_tokens"],
        step["patches"],
    )
    row = {
        "step_s": step["step_s"],
        "update_s": step["update_s"],
        "peak_memory_gib": step["peak_gib"],
        "sequences": len(step["seq_lens"]),
        "tokens": sum(step["seq_lens"]),
        "update_tflops": flops / 1e12,
        "mfu": flops / step["update_s"] / (peak_tflops * 1e12) if peak_tflops else None,
    }
    mfu = f"{100 * row['mfu']:.1f} %" if row["mfu"] is not None else "n/a (no --peak-tflops)"
    memory = f"{row['peak_memory_gib']:.1f} GiB" if row["peak_memory_gib"] is not None else "n/a on CPU"
    print(
        f"{name}: step {row['step_s']:.2f} s, update {row['update_s']:.2f} s, peak memory "
        f"{memory}, {row['sequences']} sequences / {row['tokens']} tokens, "
        f"{row['update_tflops']:.1f} TFLOP, actor-update MFU {mfu}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--tiny", action="store_true", help="vrl's tiny sizes instead of 7B (CPU test lane)")
    parser.add_argument("--prompts", type=int, default=8, help="RL prompts per step")
    parser.add_argument("--group", type=int, default=4, help="RL responses per prompt")
    parser.add_argument("--new-tokens", type=int, default=128, help="RL max new tokens per response")
    parser.add_argument("--micro-batch", type=int, default=8, help="RL sequences per forward/backward")
    parser.add_argument("--sft-batch", type=int, default=8, help="SFT sequences per step")
    parser.add_argument("--sft-max-length", type=int, default=1024, help="SFT tokens per sequence")
    parser.add_argument("--image-size", type=int, default=224, help="procedural image side, px")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak dense bf16 TFLOP/s")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: --device cuda but torch sees no CUDA device (use --device cpu --tiny)")

    from vrl.data.procedural import ProceduralSource
    from vrl.model.processor import QwenVLProcessor
    from vrl.model.tiny import QWEN2_5_VL_CHAT_TEMPLATE, build_tokenizer

    shape = TINY if args.tiny else QWEN2_5_VL_7B
    peak = args.peak_tflops
    if peak is None and args.device == "cuda":
        device_name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in device_name), None)
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    work = Path(tempfile.mkdtemp(prefix="vrl-gpu-check-"))
    corpus = list(ProceduralSource(num_samples=64, image_size=args.image_size).corpus())
    tokenizer = build_tokenizer(corpus, 512)
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    side = args.image_size
    images = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=side * side)
    processor = QwenVLProcessor(images, tokenizer, chat_template=QWEN2_5_VL_CHAT_TEMPLATE)
    train_dir = prompts_dataset(work, max(64, 4 * args.prompts), args.image_size)

    results: dict[str, Any] = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu"}
    start = time.perf_counter()
    model = build_policy(shape, tokenizer, args.device, dtype)
    counts = parameter_counts(model)
    results["params_b"] = sum(counts.values()) / 1e9
    results["peak_tflops"] = peak
    # Weights, gradients and AdamW's two moments, each in the model's dtype (activations extra).
    results["state_gib"] = 4 * dtype.itemsize * sum(counts.values()) / 2**30
    print(f"weights + gradients + AdamW moments: {results['state_gib']:.1f} GiB", flush=True)
    print(
        f"built {'tiny' if args.tiny else '7B'} Qwen2.5-VL ({results['params_b'] * 1e3:,.1f} M params, {dtype}) on "
        f"{results['device']} in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    results["rl"] = report(
        "rl", rl_step(args, model, processor, train_dir, work, counts), counts, shape, peak
    )
    del model
    gc.collect()  # Lightning's trainer and module refer to each other: free the RL optimizer state now
    if args.device == "cuda":
        torch.cuda.empty_cache()
    model = build_policy(shape, tokenizer, args.device, dtype)  # SFT on a fresh policy and optimizer
    results["sft"] = report("sft", sft_step(args, model, processor, train_dir, work), counts, shape, peak)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
