"""Median ms per step of each category the overhead meter records (`experiments/rl_speed/overhead.py`
writes `<stage dir>/model_time.json`), steps 6.., and the median step's share outside the model.

    python experiments/rl_speed/loader_ahead/medians.py RUN_DIR/rl/model_time.json [...]
"""

from __future__ import annotations

import json
import statistics
import sys

MODEL = ("generate", "forward", "backward", "clip", "optimizer")


def medians(path: str) -> str:
    steps = json.load(open(path))[5:]
    names = sorted({key[: -len("_wall")] for step in steps for key in step if key.endswith("_wall")})
    wall = {name: [step.get(f"{name}_wall", 0.0) * 1000 for step in steps] for name in names}
    model = [sum(step.get(f"{name}_wall", 0.0) for name in MODEL) * 1000 for step in steps]
    total = [step["wall"] * 1000 for step in steps]
    other = [t - sum(wall[name][i] for name in names) for i, t in enumerate(total)]
    shares = sorted(1 - m / t for m, t in zip(model, total))
    parts = " | ".join(
        f"{name[2:]} {statistics.median(wall[name]):.1f}" for name in names if name not in MODEL
    )
    return (
        f"{path}: median step {statistics.median(total):.1f} ms, model {statistics.median(model):.1f}, "
        f"median share outside {shares[len(shares) // 2]:.1%}; outside (median ms): {parts} | "
        f"other {statistics.median(other):.1f}"
    )


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(medians(argument))
