"""Train the tiny VLM on a mix of procedural families and print each family's held-out accuracy.

    OMP_NUM_THREADS=1 python experiments/colour/family_mix.py                                # the default: grey, outlined
    OMP_NUM_THREADS=1 python experiments/colour/family_mix.py --canvas 255,255,255 --outline none   # the old white
    OMP_NUM_THREADS=1 python experiments/colour/family_mix.py --outline none                 # plain grey

The question colour_alone.py cannot answer: is there one canvas on which colour *and* chart are
learned? Same model, collator, loss and lr as the `sft` stage (batch 16, AdamW 1e-3). Each
family's score is which of its answers the model ranks first after `\\boxed{` on held-out seeds
(teacher-forced: what the model knows, not its output format).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
from canvas_args import add_canvas_args, apply_canvas_args  # this folder (scripts run by path)

import vrl.data.procedural.base as base
from vrl.data.procedural import FAMILIES, HOLDOUT_SEED_START, ProceduralSource, generate
from vrl.model import TinyQwen25VL
from vrl.policy.images import encode_prompts
from vrl.sft.collate import SFTCollator, pad_batch
from vrl.sft.loss import masked_token_nll


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", default="color,chart")
    add_canvas_args(parser)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-items", type=int, default=120, help="per family")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    apply_canvas_args(args)
    families = args.families.split(",")
    torch.manual_seed(args.seed)
    spec = TinyQwen25VL(seed=args.seed)
    with tempfile.TemporaryDirectory() as work:
        vlm = spec.load(spec.resolve(Path(work), ProceduralSource(families=families).corpus()))
    model, processor = vlm.model, vlm.processor
    print(f"families {families}, canvas {base.BACKGROUND}, outline {base.OUTLINE}", flush=True)

    collator = SFTCollator(processor, "\\boxed{{{answer}}}", max_length=128)
    train = [generate(families[i % len(families)], i) for i in range(16 * args.steps)]
    prefix = processor.tokenizer("\\boxed{", add_special_tokens=False)["input_ids"]
    tests, answer_ids = {}, {}
    for family in families:
        tests[family] = [generate(family, HOLDOUT_SEED_START + seed) for seed in range(args.eval_items)]
        answers = FAMILIES[family].answers
        answer_ids[family] = (
            answers,
            [processor.tokenizer(a, add_special_tokens=False)["input_ids"][0] for a in answers],
        )

    def evaluate() -> dict[str, float]:
        model.eval()
        scores = {}
        with torch.no_grad():
            for family, test in tests.items():
                answers, ids = answer_ids[family]
                right = 0
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
                    ).logits[:, -1, ids]
                    right += sum(s.answer == answers[j] for s, j in zip(chunk, logits.argmax(-1).tolist()))
                scores[family] = 100 * right / len(test)
        model.train()
        return scores

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
            scores = "  ".join(f"{f} {v:5.1f}%" for f, v in evaluate().items())
            print(
                f"step {step:4d}  loss {loss.item():.3f}  {scores}  ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
