"""Can the tiny VLM count the interaction task's circles in the full view, or only after the zoom?

Writes the same 4,300 interaction problems twice as JSON-lines datasets: the image the tool
trajectory's zoom produces (the asked quadrant, at the model's 112 px view) with "How many
circles are there?", and the full 224 px image with the quadrant question. Then runs
`python -m vrl data=[jsonl] stages=[data,sft]` on each (600 steps of 16, the answer as
`<answer>N</answer>`) and prints the validation loss per target token: ~0.28 is the answer
prior (nothing learned about the image), near 0 is counting learned.

    python scripts/zoom_learnability.py --work-dir /tmp/zoom_learnability
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from vrl_runs import run_vrl, stage

from vrl.data.procedural import interaction

VIEWS = ("zoomed quadrant", "full image")


def write_dataset(out: Path, view: str, items: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    half = interaction.BASE_SIZE // 2
    with (out / "all.jsonl").open("w") as handle:
        for seed in range(items):
            scene = interaction.draw(random.Random(f"interaction/{seed}"), interaction.BASE_SIZE)
            (col, row), _ = interaction.QUADRANTS[scene["quadrant"]]
            image, question = scene["image"], interaction.QUESTION.format(quadrant=scene["quadrant"])
            if view == "zoomed quadrant":
                image = image.crop((col * half, row * half, (col + 1) * half, (row + 1) * half))
                question = "How many circles are there?"
            image.save(out / f"{seed}.png")
            record = {
                "id": f"s{seed}",
                "question": question,
                "images": [f"{seed}.png"],
                "answer": scene["answer"],
            }
            handle.write(json.dumps(record) + "\n")
    return out / "all.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/zoom_learnability"))
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    for view in VIEWS:
        name = view.replace(" ", "_")
        path = write_dataset(args.work_dir / name, view, 4300)
        run_dir = args.work_dir / f"run_{name}"
        overrides = ["data=[jsonl]", f"data.jsonl.path={path}", "data.jsonl.answer_type=integer"]
        overrides += ["stages=[data,sft]", "stage.data.train_size=4000", "stage.data.val_size=256"]
        overrides += [f"stage.sft.max_steps={args.steps}", "stage.sft.val_every_n_steps=100"]
        run_vrl(run_dir, [*overrides, "stage.sft.response_template='<answer>{answer}</answer>'"])
        metrics = stage(run_dir, "sft")["metrics"]
        print(f"{view}: validation loss per target token {metrics['val/loss']:.4f} after {args.steps} steps")


if __name__ == "__main__":
    main()
