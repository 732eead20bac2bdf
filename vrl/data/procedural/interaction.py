"""interaction: "How many circles are in the top-left quadrant?" on an image too coarse to count without zooming.

The image is 224 px with 0-4 circles (radius 15-17 px) in each of four quadrants (grey
midlines; the asked quadrant has 1-4). The tiny VLM sees at most 112 x 112 px (`max_pixels` of
`conf/model/tiny_qwen2_5_vl.yaml`, 14 px patches, 16 image tokens), so the full view halves
every circle to a radius of ~8 px, and the zoomed quadrant shows them at 15-17 px. With 600 SFT
steps on 4,000 items (`scripts/zoom_learnability.py`), counting the zoomed quadrant is learned
and counting one quadrant of the full view stays at the answer prior
(experiments/thinking_with_images). Difficulty: 1 for 1-2 circles, 2 for 3, 3 for 4.

Two variants of each problem, same prompt: `tool` (V-Thinker / Thyme trajectory) carries a
multi-segment `Sample.response`: trainable `<think>..</think><code>```python ..```</code>`, the
untrainable `<sandbox_output><image></sandbox_output>` whose image is the REAL result of running
that code in vrl's sandbox (`Sample.response_images`), then trainable `<answer>N</answer>`;
`direct` answers `<answer>N</answer>` at once (the "without tools" baseline). A failed sandbox
call gives a `Skipped` (reason "tool_error"), never a made-up image.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from vrl.errors import ConfigError

from ..schema import IMAGE_PLACEHOLDER, Sample, Skipped
from .base import PALETTE, canvas, draw_shape, place_apart
from .seed_range import check_seed_range, seed_range

BASE_SIZE = 224  # twice the tiny model's largest input side: objects halve in the full view
MIN_SIZE = 112
MAX_COUNT = 4
RADIUS = (15.0, 17.0)  # circle radius range in px at 224 px (scales with image_size)
QUADRANTS = {  # name -> (column, row) and the crop box the code writes, in terms of w, h
    "top-left": ((0, 0), "(0, 0, w // 2, h // 2)"),
    "top-right": ((1, 0), "(w // 2, 0, w, h // 2)"),
    "bottom-left": ((0, 1), "(0, h // 2, w // 2, h)"),
    "bottom-right": ((1, 1), "(w // 2, h // 2, w, h)"),
}
QUESTION = "How many circles are in the {quadrant} quadrant?"
THINK = "<think>The shapes are too small to count here. Zoom into the {quadrant} quadrant.</think>"
CODE = """from PIL import Image
import os
image = Image.open(image_path)
w, h = image.size
box = {box}
zoomed = image.crop(box).resize((2 * (box[2] - box[0]), 2 * (box[3] - box[1])))
processed_path = os.path.join(output_dir, "zoom.png")
zoomed.save(processed_path)"""
SANDBOX_OUTPUT = "<sandbox_output>" + IMAGE_PLACEHOLDER + "</sandbox_output>"
ANSWER = "<answer>{answer}</answer>"
SKIP_TOOL_ERROR = "tool_error"
Variant = Literal["tool", "direct"]


def tool_code(quadrant: str) -> str:
    """The Python the tool trajectory runs: crop `quadrant` and zoom it 2x (Thyme's `processed_path`)."""
    return CODE.format(box=QUADRANTS[quadrant][1])


def tool_call(quadrant: str) -> str:
    """The trainable text up to and including `</code>`."""
    return THINK.format(quadrant=quadrant) + "<code>\n```python\n" + tool_code(quadrant) + "\n```\n</code>"


def draw(rng: random.Random, size: int) -> dict[str, Any]:
    """One scene: image, quadrant, answer, difficulty and every object drawn (per quadrant)."""
    s = size / BASE_SIZE
    half = size // 2
    quadrant = rng.choice(tuple(QUADRANTS))
    image, pen = canvas(size)
    grey = (200, 200, 200)
    pen.line((half, 0, half, size), fill=grey, width=max(1, round(s)))
    pen.line((0, half, size, half), fill=grey, width=max(1, round(s)))
    objects: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for name, ((col, row), _) in QUADRANTS.items():
        circles = rng.randint(1, MAX_COUNT) if name == quadrant else rng.randint(0, MAX_COUNT)
        radii = [rng.uniform(*RADIUS) * s for _ in range(circles)]
        for r, (x, y) in zip(radii, place_apart(rng, half, radii, gap=3.0 * s)):
            color = rng.choice(tuple(PALETTE))
            x, y = x + col * half, y + row * half
            draw_shape(pen, "circle", x, y, r, PALETTE[color])
            objects.append(
                {"shape": "circle", "color": color, "x": round(x, 1), "y": round(y, 1), "quadrant": name}
            )
        counts[name] = circles
    return {
        "image": image,
        "quadrant": quadrant,
        "answer": str(counts[quadrant]),
        "difficulty": {1: 1, 2: 1, 3: 2}.get(counts[quadrant], 3),
        "counts": counts,
        "objects": objects,
    }


def run_tool(sandbox: Any, code: str, image: Image.Image, work_dir: Path) -> Image.Image:
    """Execute `code` on `image` in `sandbox` (a `vrl.sandbox.Sandbox`); the produced image.

    Raises RuntimeError with the sandbox's error when the code fails or produces no image.
    """
    path = work_dir / "input.png"
    image.save(path)
    result = sandbox.execute(code, [path])
    if not result.ok or not result.images:
        raise RuntimeError(result.error or result.violation or f"no image produced: {result.text[:200]}")
    with Image.open(result.images[0]) as produced:
        out = produced.copy()
    for produced_path in result.images:
        Path(produced_path).unlink(missing_ok=True)
    return out


def generate(
    seed: int,
    image_size: int = BASE_SIZE,
    variant: Variant = "tool",
    sandbox: Any = None,
    work_dir: Path | None = None,
) -> Sample:
    """The interaction problem for `seed`; `tool` needs a `sandbox` (and a scratch `work_dir`)."""
    if image_size < MIN_SIZE:
        raise ConfigError(f"image_size: {image_size} is too small for zooming to help; use >= {MIN_SIZE}")
    scene = draw(random.Random(f"interaction/{seed}"), image_size)
    quadrant, answer = scene["quadrant"], scene["answer"]
    metadata = {
        "seed": seed,
        "family": "interaction",
        "difficulty": scene["difficulty"],
        "image_size": image_size,
        "variant": variant,
        "quadrant": quadrant,
        "counts": scene["counts"],
        "objects": scene["objects"],
    }
    if variant == "tool":
        if sandbox is None or work_dir is None:
            raise ValueError("generate(variant='tool') needs a sandbox and a work_dir to run the code in")
        code = tool_code(quadrant)
        zoomed = run_tool(sandbox, code, scene["image"], work_dir)
        metadata["code"] = code
        response = [
            {"text": tool_call(quadrant), "trainable": True},
            {"text": SANDBOX_OUTPUT, "trainable": False},
            {"text": ANSWER.format(answer=answer), "trainable": True},
        ]
        response_images = [zoomed]
    elif variant == "direct":
        response, response_images = [{"text": ANSWER.format(answer=answer), "trainable": True}], []
    else:
        raise ConfigError(f"variant: {variant!r} is unknown; use tool or direct")
    return Sample(
        id=f"procedural/interaction/{seed}",
        images=[scene["image"]],
        prompt=[{"role": "user", "content": IMAGE_PLACEHOLDER + QUESTION.format(quadrant=quadrant)}],
        answer=answer,
        answer_type="integer",
        category="interaction",
        source="procedural",
        metadata=metadata,
        response=response,
        response_images=response_images,
    )


def corpus() -> Iterator[str]:
    """Every text the generator writes: questions, tool calls, tags, answers."""
    for quadrant in QUADRANTS:
        yield QUESTION.format(quadrant=quadrant)
        yield tool_call(quadrant)
    yield SANDBOX_OUTPUT.replace(IMAGE_PLACEHOLDER, "")
    for n in range(MAX_COUNT + 1):
        yield ANSWER.format(answer=n)


class InteractionSource:
    """Interaction samples for seeds `seed_start, ...` (hold-out guard as `ProceduralSource`).

    Args:
        num_samples: how many samples; None = unlimited (training: up to the hold-out range).
        seed_start: the first seed.
        image_size: image side in px (>= 112; objects scale with it).
        variant: "tool" (code + real sandbox result + answer) or "direct" (answer only).
        sandbox_backend: `vrl.sandbox.make_sandbox` backend the tool code runs in (auto, bwrap, process).
        weight: relative share of this source in a mixture.
        holdout: this source is for evaluation and reads seeds >= HOLDOUT_SEED_START.
    """

    name = "interaction"

    def __init__(
        self,
        num_samples: int | None = None,
        seed_start: int = 0,
        image_size: int = BASE_SIZE,
        variant: Variant = "tool",
        sandbox_backend: str = "auto",
        weight: float = 1.0,
        holdout: bool = False,
    ) -> None:
        check_seed_range(seed_start, num_samples, holdout)
        if image_size < MIN_SIZE:
            raise ConfigError(f"image_size: {image_size} is too small for zooming to help; use >= {MIN_SIZE}")
        if variant not in ("tool", "direct"):
            raise ConfigError(f"variant: {variant!r} is unknown; use tool or direct")
        if weight < 0:
            raise ConfigError(f"weight: {weight} is negative; use a relative share >= 0")
        self.num_samples, self.seed_start, self.image_size = num_samples, seed_start, image_size
        self.variant, self.sandbox_backend = variant, sandbox_backend
        self.weight, self.holdout = float(weight), holdout

    def iter_samples(self) -> Iterator[Sample | Skipped]:
        seeds = seed_range(self.seed_start, self.num_samples, self.holdout)
        if self.variant == "direct":
            for seed in seeds:
                yield generate(seed, self.image_size, "direct")
            return
        from vrl.sandbox import make_sandbox

        sandbox = make_sandbox(backend=self.sandbox_backend, workers=1)
        try:
            with tempfile.TemporaryDirectory(prefix="vrl-interaction-") as scratch:
                for seed in seeds:
                    try:
                        yield generate(seed, self.image_size, "tool", sandbox, Path(scratch))
                    except RuntimeError as error:
                        yield Skipped(SKIP_TOOL_ERROR, f"procedural/interaction/{seed}", str(error)[:200])
        finally:
            sandbox.close()

    def corpus(self) -> Iterator[str]:
        yield from corpus()
