"""One update micro-batch's forward + backward, stock (every prompt + response row) vs each
distinct prompt once (`vrl.policy.shared_prompt`), 24 interleaved pairs, one core:

    OMP_NUM_THREADS=1 python experiments/rl_speed/shared_prompt/forward_backward.py [bench] [default]

`bench`: the model and train set `scripts/bench_rl_vs_trl.py` builds (`build_fixture(Path("/tmp/bfix"),
64, 56, 4, 40, 0)`), 4 prompts x 4, random responses of 16-32 tokens; `default`: a `make run`'s SFT
model and train set (paths in CASES), 8 prompts x 8 (one default micro-batch of 64), 3-6 tokens
(the default's responses are ~5 tokens). Responses are random tokens: the cost, not the values.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

import torch
from datasets import load_from_disk

from vrl.model import load_vlm
from vrl.policy.images import ImageCache, encode_prompts
from vrl.policy.log_probs import batch_and_logits, token_log_probs
from vrl.policy.trajectory import Trajectory
from vrl.rl.data import PromptStream

CASES = {  # name -> (model dir, train dir, prompts, group size, max response tokens)
    "bench": ("/tmp/bfix/model/tiny_qwen2_5_vl-b58f51fe", "/tmp/bfix/train", 4, 4, 32),
    "default": ("/tmp/default_fast/sft/model", "/tmp/default_fast/data/train", 8, 8, 6),
}


def measure(name: str) -> str:
    model_dir, train_dir, prompts, group, longest = CASES[name]
    vlm = load_vlm(model_dir, dtype="float32")
    model, processor = vlm.model, vlm.processor
    rng = random.Random(0)
    rows = []
    for index, sample in enumerate(PromptStream(load_from_disk(train_dir), prompts, 0).batch_at(0)):
        prompt = encode_prompts(processor, [sample])["input_ids"][0].tolist()
        for _ in range(group):
            response = [rng.randrange(10, 300) for _ in range(rng.randint(longest // 2, longest))]
            rows.append(Trajectory(index, index, sample, prompt, response, [1] * len(response), "", True))
    model.train()

    def step(share: bool) -> float:
        start = time.perf_counter()
        model.zero_grad(set_to_none=True)
        batch, logits = batch_and_logits(model, processor, rows, ImageCache(), share_prompts=share)
        log_probs, _ = token_log_probs(logits, batch.response_ids)
        (log_probs * batch.response_mask).sum().backward()
        return time.perf_counter() - start

    times: dict[bool, list[float]] = {True: [], False: []}
    for pair in range(24):
        for share in (True, False) if pair % 2 else (False, True):
            times[share].append(step(share))
    stock, shared = (statistics.median(times[s][2:]) for s in (False, True))
    return (
        f"{name}: {prompts} prompts x {group}, prompt {len(rows[0].prompt_ids)} tokens, responses <= "
        f"{longest}: stock {1000 * stock:.1f} ms, shared {1000 * shared:.1f} ms ({stock / shared:.2f}x)"
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    for case in sys.argv[1:] or CASES:
        print(measure(case))
