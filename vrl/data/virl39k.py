"""`ViRL39KSource`: TIGER-Lab/ViRL39K, VL-Rethinker's RL queries, with the paper's query selection.

Schema (`39Krelease.parquet`; dataset card "Dataset Keys", and the column list a loader prints
for the real file): question (with `<image>` marks), answer (`\\boxed{...}`), PassRate_32BTrained,
PassRate_7BBase, category, source, qid, image (list of paths relative to the release root,
`images/...` once images.zip is unpacked).

PassRate selection (VL-Rethinker, arXiv 2504.08837, quoted in TIGER-AI-Lab/VL-Rethinker#6): "for
each model scale, we curated a training subset consisting of queries where the initial
checkpoint of that model demonstrated a non-zero PassRate@8" (~16k queries for 7B, ~20k for
32B/72B). `pass_rate_column` names the scale's annotation and `pass_rate_above: 0.0` keeps rows
whose rate is > 0. The card labels `PassRate_7BBase` on about half the queries only; unlabelled
rows (null, NaN or negative) never pass a threshold >= 0, so they are left out as the paper's
7B subset leaves them out. The release has no 72B annotation; `PassRate_32BTrained` is the
closest it offers (a deviation the 72B recipe table lists).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from vrl.errors import ConfigError

from .hf_source import HFSource, takes_hfsource_arguments

log = logging.getLogger("vrl")

PASS_RATE_COLUMNS = ("PassRate_7BBase", "PassRate_32BTrained")


def passes(rate: Any, above: float) -> bool:
    """A labelled pass rate strictly above `above` (null, NaN and negative = unlabelled)."""
    if rate is None or isinstance(rate, bool) or not isinstance(rate, (int, float)):
        return False
    return math.isfinite(rate) and rate >= 0 and rate > above


@takes_hfsource_arguments
class ViRL39KSource(HFSource):
    """ViRL39K rows as VL-Rethinker trains on them (arguments: `HFSource`, plus the selection).

    Args:
        pass_rate_column: the PassRate annotation to select on (PassRate_7BBase for 7B,
            PassRate_32BTrained for larger models); None = no selection.
        pass_rate_above: keep rows whose pass rate is strictly above this (paper: 0, "non-zero
            PassRate@8").
        **kwargs: `HFSource` arguments (path, columns, prompt_template, ...).
    """

    def __init__(
        self, pass_rate_column: str | None = "PassRate_7BBase", pass_rate_above: float = 0.0, **kwargs: Any
    ) -> None:
        if pass_rate_column is not None and pass_rate_column not in PASS_RATE_COLUMNS:
            raise ConfigError(
                f"pass_rate_column: {pass_rate_column!r} is not a ViRL39K annotation; use one of "
                f"{', '.join(PASS_RATE_COLUMNS)} or null (no selection)"
            )
        self.pass_rate_column, self.pass_rate_above = pass_rate_column, float(pass_rate_above)
        self.selection: dict[str, int] = {}
        super().__init__(**kwargs)

    def _select(self, dataset: Any) -> Any:
        column, above = self.pass_rate_column, self.pass_rate_above
        if column is None:
            return dataset
        if column not in dataset.column_names:
            raise ConfigError(
                f"pass_rate_column: {column!r} not in {self.path}; columns: {', '.join(dataset.column_names)}"
            )
        keep = [i for i, rate in enumerate(dataset[column]) if passes(rate, above)]
        self.selection = {"rows": len(dataset), "kept": len(keep)}
        log.info("data %s: %d of %d queries have %s > %g", self.name, len(keep), len(dataset), column, above)
        if not keep:
            raise ConfigError(
                f"pass_rate_above: no row of {self.path} has {column} > {above}; lower it or set "
                "pass_rate_column: null"
            )
        return dataset.select(keep)
