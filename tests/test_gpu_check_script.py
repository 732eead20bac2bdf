"""scripts/gpu_check.py and gpu_check.sh without a GPU: the FLOPs formula against a hand count,
the 7B shape against Qwen2.5-VL-7B's published size, and the whole script in its CPU mode
(`--cpu-tiny`: the same entry point, RL and SFT step of the tiny model, then the gpu lane)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from vrl_testing import REPO

sys.path.insert(0, str(REPO / "scripts"))
import gpu_check  # noqa: E402


def test_update_flops_is_the_documented_formula():
    counts = {"body": 10, "head": 4, "vit": 2, "embed": 99}  # the embedding is a lookup: not counted
    # 6 * (10 * (2 + 3) + 4 * 4 + 2 * 8) + 12 * 2 layers * width 3 * (2^2 + 3^2) = 492 + 936
    assert (
        gpu_check.update_flops(counts, layers=2, width=3, seq_lens=[2, 3], head_tokens=4, patches=8) == 1428
    )


def test_the_7b_shape_has_qwen2_5_vl_7b_parameters():
    from vrl.model.tiny import build_tokenizer

    tokenizer = build_tokenizer(["a b c"], 300)
    model = gpu_check.build_policy(gpu_check.QWEN2_5_VL_7B, tokenizer, "meta", torch.bfloat16)
    counts = gpu_check.parameter_counts(model)
    assert sum(counts.values()) == 8_292_166_656  # Qwen2.5-VL-7B-Instruct: 8.29 B
    assert counts["head"] == counts["embed"] == 152064 * 3584  # untied
    assert counts["vit"] == 676_550_144
    assert any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


@pytest.mark.slow
def test_gpu_check_runs_its_cpu_mode_end_to_end(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    for key in ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK"):
        env.pop(key, None)  # an earlier in-process Lightning fit leaves its (still bound) port here
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_check.sh"), "--cpu-tiny"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads((tmp_path / "gpu_check.json").read_text())
    for stage in ("rl", "sft"):
        row = figures[stage]
        assert row["step_s"] >= row["update_s"] > 0 and row["update_tflops"] > 0
        assert row["mfu"] is not None and row["peak_memory_gib"] is None  # no memory figure on CPU
    assert figures["rl"]["sequences"] == 4  # 2 prompts x 2 responses
    assert "rl: step" in result.stdout and "sft: step" in result.stdout
    assert "skipped" in result.stdout  # the gpu lane ran, its tests skipped without CUDA
