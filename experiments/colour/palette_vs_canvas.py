"""How the six palette colours differ from the canvas in the pixels the model sees (no model).

    python experiments/colour/palette_vs_canvas.py

Pixels are normalised as Qwen2.5-VL's image processor does ((v / 255 - mean) / std, CLIP's mean
and std). For each canvas: where the blank canvas lands, the part of (colour - canvas) that all
six colours share, the part that tells them apart (hue), and the most similar pair's cosine.
"""

from __future__ import annotations

import itertools

import numpy as np

from vrl.data.procedural.base import GREY_CANVAS, PALETTE

MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
STD = np.array([0.26862954, 0.26130258, 0.27577711])


def normalise(rgb) -> np.ndarray:
    return (np.asarray(rgb) / 255 - MEAN) / STD


def main() -> None:
    colours = np.stack([normalise(c) for c in PALETTE.values()])
    print(f"{'canvas':>16} {'canvas ->':>20} {'shared':>7} {'hue rms':>8} {'closest pair cos':>17}")
    for rgb in ((255, 255, 255), (0, 0, 0), GREY_CANVAS):
        diff = colours - normalise(rgb)
        shared = diff.mean(axis=0)
        hue = np.sqrt(((diff - shared) ** 2).sum(axis=1).mean())
        unit = diff / np.linalg.norm(diff, axis=1, keepdims=True)
        closest = max(unit[i] @ unit[j] for i, j in itertools.combinations(range(len(unit)), 2))
        where = np.array2string(normalise(rgb), precision=2, suppress_small=True)
        print(f"{str(rgb):>16} {where:>20} {np.linalg.norm(shared):7.2f} {hue:8.2f} {closest:17.2f}")


if __name__ == "__main__":
    main()
