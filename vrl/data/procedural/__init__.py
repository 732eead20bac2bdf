"""Seeded, verifiable visual problems small enough for a ~1M-param VLM to learn on CPU.

One module per task family (count, color, shape, spatial, chart, geometry); `registry`
maps names to families and turns (family, seed) into a `Sample`; `source` streams them.
"""

from .registry import FAMILIES, HOLDOUT_SEED_START, TASK_FAMILIES, chance_accuracy, generate, get_family
from .source import ProceduralSource

__all__ = [
    "FAMILIES",
    "HOLDOUT_SEED_START",
    "TASK_FAMILIES",
    "ProceduralSource",
    "chance_accuracy",
    "generate",
    "get_family",
]
