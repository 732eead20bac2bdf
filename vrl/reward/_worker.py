"""What runs inside a reward worker process (and inline when `num_workers=0`).

Kept free of heavy imports (no torch) so a worker starts in well under a second.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# (values, number of items that raised, first error message or None, number of NaN/inf values)
TaskResult = tuple[list[float | None], int, str | None, int]


def run_task(
    fn: Callable[..., Any], completions: Sequence[str], fields: Mapping[str, Sequence[Any]]
) -> TaskResult:
    """Call a reward function on one chunk; if it raises, retry item by item so only the
    failing items become None. NaN and inf become None too, and are counted apart."""
    try:
        values, nonfinite = _checked(fn(list(completions), **fields), len(completions))
        return values, 0, None, nonfinite
    except Exception as error:  # noqa: BLE001 - the item becomes None; the pool judges the rate
        first = f"{type(error).__name__}: {error}"
        if len(completions) == 1:
            return [None], 1, first, 0
    values: list[float | None] = []
    errors = nonfinite = 0
    for i in range(len(completions)):
        try:
            item_fields = {key: value[i : i + 1] for key, value in fields.items()}
            item, bad = _checked(fn([completions[i]], **item_fields), 1)
            values.extend(item)
            nonfinite += bad
        except Exception:  # noqa: BLE001
            values.append(None)
            errors += 1
    return values, errors, first, nonfinite


def _checked(values: Any, n: int) -> tuple[list[float | None], int]:
    """A list of n floats or None (NaN and inf become None, and are counted); anything else raises."""
    values = list(values)
    if len(values) != n:
        raise ValueError(f"reward returned {len(values)} values for {n} completions")
    out: list[float | None] = []
    nonfinite = 0
    for value in values:
        if value is None:
            out.append(None)
            continue
        number = float(value)
        finite = math.isfinite(number)
        out.append(number if finite else None)
        nonfinite += not finite
    return out, nonfinite


def serve(conn: Any, functions: Mapping[str, Callable[..., Any]]) -> None:
    """Worker loop: receive `(task_id, name, completions, fields)`, send `(task_id, *TaskResult)`;
    `None` or a closed pipe ends it. Says "ready" first: start-up does not count against a task's time.

    Ctrl-C reaches the whole process group: the trainer handles it (a checkpoint, one line,
    `vrl.interrupt`) and then stops the pool; a worker ignores it rather than print a
    KeyboardInterrupt traceback of its own. SIGTERM keeps its default (multiprocessing's exit
    and SLURM end workers with it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send("ready")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, name, completions, fields = message
        conn.send((task_id, *run_task(functions[name], completions, fields)))
