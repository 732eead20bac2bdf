"""Benchmarks: loaders, pure scorers and metrics for the seed papers' evaluation suites.

Each class is the `_target_` of a `conf/benchmark/<option>.yaml`. Imports are lazy so that
`import vrl.benchmark` stays cheap (no `datasets`, no math-verify until a benchmark is used).
"""

from importlib import import_module

_EXPORTS = {
    "ChartQA": "chartqa",
    "DynaMath": "dynamath",
    "EMMA": "emma",
    "LogicVista": "logicvista",
    "MathVerse": "mathverse",
    "MathVision": "mathvision",
    "MathVista": "mathvista",
    "MMMU": "mmmu",
    "VTBench": "vtbench",
    "WeMath": "wemath",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"vrl.benchmark.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vrl.benchmark' has no attribute {name!r}")
