"""Hydra's partials of vrl's own functions, called as plain `functools.partial`s.

Hydra 1.3.8 returns `_partial_: true` targets as a `functools.partial` subclass that authorizes
the target again on every call (a digest of its target policy, a JSON dump, the result's
type checked): ~0.2-0.35 ms a call on this machine against ~0.02 ms for the same partial
(experiments/rl_speed). An RL step calls the algorithm's functions a dozen times and the reward
functions once per chunk. The target was authorized when the config was instantiated, and
vrl's own functions compute numbers from the arguments the trainer passes, so such a partial is
rebuilt as a plain one; a partial of any other function (a user's own) keeps Hydra's checks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def plain_partial(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` itself, or, for a partial subclass over a function of the `vrl` package, the plain
    `functools.partial` with the same function and bound arguments (the same calls, results)."""
    if type(fn) is functools.partial or not isinstance(fn, functools.partial):
        return fn
    if not getattr(fn.func, "__module__", "").startswith("vrl."):
        return fn
    return functools.partial(fn.func, *fn.args, **fn.keywords)
