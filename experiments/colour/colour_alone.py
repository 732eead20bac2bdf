"""Train the tiny VLM on the colour family alone and print held-out accuracy as it learns.

    OMP_NUM_THREADS=1 python experiments/colour/colour_alone.py                          # the data's canvas (grey, outlined)
    OMP_NUM_THREADS=1 python experiments/colour/colour_alone.py --canvas 255,255,255 --outline none   # the old white
    OMP_NUM_THREADS=1 python experiments/colour/colour_alone.py --canvas 123,117,104 --outline none   # plain grey
    OMP_NUM_THREADS=1 python experiments/colour/colour_alone.py --canvas 255,255,255 --outline none --image-mean 1,1,1
    OMP_NUM_THREADS=1 python experiments/colour/colour_alone.py --solid                  # whole image one colour

Same model, collator, loss and lr as the `sft` stage (batch 16, AdamW 1e-3, no schedule). The
score is which of the six colour words the model ranks first after `\\boxed{` on held-out seeds
(teacher-forced, so it measures what the model knows, not its output format); each eval line
also shows, per gold colour, the two answers it gets most. See README.md for the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from canvas_args import add_canvas_args, apply_canvas_args  # this folder (scripts run by path)
from PIL import Image

import vrl.data.procedural.base as base
from vrl.data.procedural import HOLDOUT_SEED_START, ProceduralSource, generate
from vrl.model import TinyQwen25VL
from vrl.policy.images import encode_prompts
from vrl.sft.collate import SFTCollator, pad_batch
from vrl.sft.loss import masked_token_nll


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_canvas_args(parser)
    parser.add_argument("--image-mean", help="r,g,b in [0, 1]: the image processor's mean (default: CLIP's)")
    parser.add_argument("--solid", action="store_true", help="fill the whole image with the answer's colour")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--eval-items", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    apply_canvas_args(args)
    torch.manual_seed(args.seed)

    def sample(seed: int):
        s = generate("color", seed)
        if args.solid:
            s = dataclasses.replace(s, images=[Image.new("RGB", (56, 56), base.PALETTE[s.answer])])
        return s

    spec = TinyQwen25VL(seed=args.seed)
    with tempfile.TemporaryDirectory() as work:
        vlm = spec.load(spec.resolve(Path(work), ProceduralSource(families=["color"]).corpus()))
    model, processor = vlm.model, vlm.processor
    if args.image_mean:
        processor.image_processor.image_mean = [float(v) for v in args.image_mean.split(",")]
    print(
        f"canvas {base.BACKGROUND}, image_mean {list(processor.image_processor.image_mean)}, solid {args.solid}"
    )

    collator = SFTCollator(processor, "\\boxed{{{answer}}}", max_length=128)
    train = [sample(seed) for seed in range(16 * args.steps)]
    test = [sample(HOLDOUT_SEED_START + seed) for seed in range(args.eval_items)]
    colour_ids = [processor.tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in base.COLORS]
    prefix = processor.tokenizer("\\boxed{", add_special_tokens=False)["input_ids"]

    def evaluate() -> tuple[float, dict[str, list[tuple[str, int]]]]:
        model.eval()
        pairs: Counter = Counter()
        with torch.no_grad():
            for i in range(0, len(test), 60):
                chunk = test[i : i + 60]
                inputs = encode_prompts(processor, chunk)
                n, k = len(chunk), len(prefix)
                logits = model(
                    input_ids=torch.cat([inputs["input_ids"], torch.tensor([prefix] * n)], 1),
                    attention_mask=torch.cat(
                        [inputs["attention_mask"], torch.ones(n, k, dtype=torch.long)], 1
                    ),
                    mm_token_type_ids=torch.cat(
                        [inputs["mm_token_type_ids"], torch.zeros(n, k, dtype=torch.long)], 1
                    ),
                    pixel_values=inputs["pixel_values"],
                    image_grid_thw=inputs["image_grid_thw"],
                ).logits[:, -1, colour_ids]
                for s, j in zip(chunk, logits.argmax(-1).tolist()):
                    pairs[(s.answer, base.COLORS[j])] += 1
        model.train()
        accuracy = sum(v for (gold, pred), v in pairs.items() if gold == pred) / len(test)
        per_gold = {
            c: Counter({p: v for (g, p), v in pairs.items() if g == c}).most_common(2) for c in base.COLORS
        }
        return accuracy, per_gold

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng, start = random.Random(args.seed), time.perf_counter()
    model.train()
    for step in range(1, args.steps + 1):
        batch = pad_batch(
            [collator.encode(s) for s in rng.sample(train, 16)], processor.tokenizer.pad_token_id
        )
        loss_mask = batch.pop("loss_mask")
        loss = masked_token_nll(model(**batch, use_cache=False).logits, batch["input_ids"], loss_mask)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps:
            accuracy, per_gold = evaluate()
            print(
                f"step {step:4d}  loss {loss.item():.3f}  held-out acc {100 * accuracy:5.1f}%  "
                f"({time.perf_counter() - start:.0f} s)\n    {per_gold}",
                flush=True,
            )


if __name__ == "__main__":
    main()
