"""Time `vrl.policy.shared_prompt._positions` (mRoPE positions from the distinct prompts) against the
stock `get_rope_index` over the full rows, on an update micro-batch shaped like the embedded
default's: 16 prompts x 4 responses of 5-20 tokens, the default's SFT model and processor.

    OMP_NUM_THREADS=1 PYTHONPATH=. python experiments/rl_speed/round_four/positions_bench.py

(needs /tmp/default_fast from `python -m vrl hydra.run.dir=/tmp/default_fast`).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable

import torch

from vrl.data.procedural import ProceduralSource
from vrl.model import load_vlm
from vrl.policy.batch import TrajectoryBatch
from vrl.policy.images import encode_prompts
from vrl.policy.shared_prompt import _positions, distinct_prompts
from vrl.policy.trajectory import Trajectory
from vrl.policy.vision import image_keys


def main() -> None:
    loaded = load_vlm("/tmp/default_fast/sft/model")
    model, processor = loaded.model, loaded.processor
    samples = list(itertools.islice(ProceduralSource(num_samples=64, image_size=64).iter_samples(), 16))
    rng = random.Random(0)
    rows = []
    for index, sample in enumerate(samples):
        prompt = encode_prompts(processor, [sample])["input_ids"][0].tolist()
        for _ in range(4):
            response = [rng.randint(10, 60) for _ in range(rng.randint(5, 20))]
            rows.append(Trajectory(index, index, sample, prompt, response, [1] * len(response), "", True))
    batch = TrajectoryBatch.from_trajectories(rows, processor.tokenizer.pad_token_id)
    first, row_prompt = distinct_prompts(rows)
    ids, mask, p_len = batch.input_ids, batch.attention_mask, batch.prompt_length
    prompt_images = [rows[row].sample.images for row in first]
    grids = image_keys(model, processor, prompt_images, ids[first, :p_len], ids.device, None)[
        "image_grid_thw"
    ]
    counts = [len(images) for images in prompt_images]
    per_prompt = torch.split(grids, counts)

    def stock() -> torch.Tensor:
        return model.model.get_rope_index(
            ids,
            mm_token_type_ids=(ids == model.config.image_token_id).long(),
            image_grid_thw=torch.cat([per_prompt[i] for i in row_prompt]),
            attention_mask=mask,
        )[0]

    def from_prompts() -> torch.Tensor:
        return _positions(
            model, ids, mask, p_len, torch.tensor(first), torch.tensor(row_prompt), counts, grids
        )

    kept = mask.bool().expand(3, -1, -1)
    assert torch.equal(stock()[kept], from_prompts()[kept])
    shape = f"{len(rows)} rows, {len(first)} prompts, P={p_len}, T={ids.shape[1] - p_len}"
    timed: list[tuple[str, Callable[[], torch.Tensor]]] = [
        ("stock, full rows", stock),
        ("distinct prompts", from_prompts),
    ]
    for name, fn in timed * 2:
        fn()
        start = time.perf_counter()
        for _ in range(20):
            fn()
        print(f"{name}: {(time.perf_counter() - start) / 20 * 1e3:.2f} ms ({shape})")


if __name__ == "__main__":
    main()
