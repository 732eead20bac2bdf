"""How much of a log-prob forward is the vision tower, run once per row (G copies of each image).

    OMP_NUM_THREADS=1 PYTHONPATH=. python experiments/rl_speed/vision_share.py <model dir> <train dir> [P] [G]

Eval-mode forward of P x G rows (P prompts of the train set, each repeated G times, as a
group's rows are), against the vision tower alone on the P x G images and on the P distinct
ones; process CPU ms, median of 5.
"""

from __future__ import annotations

import sys
import time

import torch
from datasets import load_from_disk

from vrl.model import TinyQwen25VL
from vrl.policy.images import encode_prompts, processed_images
from vrl.rl.data import PromptStream


def cpu_ms(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return 1000 * sorted(times)[repeats // 2]


def main(model_dir: str, train_dir: str, prompts: int = 16, group: int = 8) -> None:
    torch.set_num_threads(1)
    loaded = TinyQwen25VL().load(model_dir)
    model, processor = loaded.model.eval(), loaded.processor
    samples = PromptStream(load_from_disk(train_dir), prompts, seed=0).batch_at(0)
    encoded = encode_prompts(processor, samples)
    ids = encoded["input_ids"].repeat_interleave(group, 0)
    mask = encoded["attention_mask"].repeat_interleave(group, 0)
    every = processed_images(processor, [s.images[0] for s in samples for _ in range(group)])
    distinct = processed_images(processor, [s.images[0] for s in samples])
    image_tokens = (ids == model.config.image_token_id).long()
    with torch.no_grad():
        tower_all = cpu_ms(
            lambda: model.model.get_image_features(every["pixel_values"], every["image_grid_thw"])
        )
        tower_distinct = cpu_ms(
            lambda: model.model.get_image_features(distinct["pixel_values"], distinct["image_grid_thw"])
        )
        forward = cpu_ms(
            lambda: model(
                input_ids=ids,
                attention_mask=mask,
                pixel_values=every["pixel_values"],
                image_grid_thw=every["image_grid_thw"],
                mm_token_type_ids=image_tokens,
                use_cache=False,
                logits_to_keep=9,
            )
        )
    patches = int(every["image_grid_thw"][0].prod())
    print(f"{prompts} x {group} rows of {ids.shape[1]} tokens, {patches} patches per image")
    print(
        f"forward {forward:.0f} ms CPU; vision tower on the {prompts * group} images {tower_all:.0f} ms, "
        f"on the {prompts} distinct {tower_distinct:.0f} ms"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(x) for x in sys.argv[3:5]))
