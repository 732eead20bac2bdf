"""What a stage is: settings, the products it reads and writes, a pre-flight check, and `run`.

Stages never reach into each other: they read and write *products* (paths in the run
directory, e.g. `train_data`, `model`) and the runner persists those between stages, so a
stage can run alone given its inputs and a finished stage is skipped on re-run.

Before the first stage runs, the runner asks every stage to `check` what it needs (components,
products, a GPU, ...), so a mistake is one line before any work, not a traceback an hour in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from vrl.errors import ConfigError, MissingFileError

if TYPE_CHECKING:
    from vrl.components import Components

DONE_FILE = "DONE.json"


@dataclass
class StageResult:
    """What a finished stage hands on: product paths, headline metrics, artefacts to show."""

    products: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # title -> markdown, for summary.md


@dataclass
class StageContext:
    """Everything a stage may use besides its own settings."""

    name: str  # the stage's key in `stages` (e.g. "sft_perception")
    run_dir: Path
    components: Components
    config: dict[str, Any]  # the resolved run config, for loggers
    seed: int

    @property
    def stage_dir(self) -> Path:
        path = self.run_dir / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path


@runtime_checkable
class Stage(Protocol):
    """One step of a run.

    Attributes:
        requires: product keys the stage cannot run without.
        reads: product keys it uses when present (e.g. `model`: else the configured model).
        writes: product keys it produces.
    """

    requires: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]

    def check(self, context: StageContext) -> None:
        """Raise a one-line `ConfigError` if the run's components cannot serve this stage."""
        ...

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult: ...


def need(component: Any, stage: str, group: str, example: str) -> Any:
    """`component`, or a one-line error saying which group option the stage needs."""
    if component is None:
        raise ConfigError(f"the {stage} stage needs a {group}: e.g. {group}={example}")
    return component


def require_product(products: dict[str, str], key: str, stage: str) -> Path:
    """The path of a product this stage needs, or a one-line error saying how to provide it."""
    value = products.get(key)
    if not value:
        raise MissingFileError(
            f"stage '{stage}' needs product '{key}': run the stage that makes it first "
            f"(add it to `stages`) or pass products.{key}=<path>"
        )
    path = Path(value)
    if not path.exists():
        raise MissingFileError(f"products.{key}={value} does not exist: fix the path or re-run its stage")
    return path


def read_done(stage_dir: Path) -> dict[str, Any] | None:
    marker = stage_dir / DONE_FILE
    return json.loads(marker.read_text()) if marker.exists() else None


def write_done(stage_dir: Path, payload: dict[str, Any]) -> None:
    """Atomically mark a stage finished (a crash mid-write leaves it unfinished, never corrupt)."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    tmp = stage_dir / (DONE_FILE + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(tmp, stage_dir / DONE_FILE)
