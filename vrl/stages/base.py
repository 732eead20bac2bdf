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
        all_ranks: every process of a multi-process run runs it (training, eval: each its share),
            else rank 0 alone while the others wait (data making).
    """

    requires: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    all_ranks: bool

    def check(self, context: StageContext) -> None:
        """Raise a one-line `ConfigError` if the run's components cannot serve this stage."""
        ...

    def run(self, context: StageContext, products: dict[str, str]) -> StageResult: ...


def need(component: Any, stage: str, group: str, example: str) -> Any:
    """`component`, or a one-line error saying which group option the stage needs."""
    if component is None:
        article = "an" if group[0] in "aeiou" else "a"
        raise ConfigError(f"the {stage} stage needs {article} {group}: e.g. {group}={example}")
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
    """The finished stage's record, or None if it has not finished. Product paths are resolved
    against the run directory (`stage_dir`'s parent), so a copied or moved run directory uses its
    own products, never the original's."""
    marker = stage_dir / DONE_FILE
    if not marker.exists():
        return None
    try:
        payload = json.loads(marker.read_text())
        products = payload["products"]
        if not isinstance(products, dict):
            raise TypeError("products is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{marker} is unreadable ({type(error).__name__}: {str(error)[:80]}); the record of stage "
            f"'{stage_dir.name}' is damaged: delete that file to run the stage again"
        ) from None
    payload["products"] = {k: _resolve(str(v), stage_dir) for k, v in products.items()}
    return payload


def check_done_products(name: str, done: dict[str, Any], run_dir: Path) -> None:
    """The products a finished stage recorded still exist (a later stage would fail on them)."""
    for key, value in done["products"].items():
        if not Path(value).exists():
            raise MissingFileError(
                f"stage {name!r} finished earlier, but its product {key}={value} is gone: delete "
                f"{run_dir / name / DONE_FILE} to run the stage again"
            )


def write_done(stage_dir: Path, payload: dict[str, Any]) -> None:
    """Atomically mark a stage finished (a crash mid-write leaves it unfinished, never corrupt).
    Products inside the run directory are written relative to it (see `read_done`)."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    run_dir = stage_dir.resolve().parent
    payload = {**payload, "products": {k: _relative(str(v), run_dir) for k, v in payload["products"].items()}}
    tmp = stage_dir / (DONE_FILE + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(tmp, stage_dir / DONE_FILE)


def _relative(path: str, run_dir: Path) -> str:
    """`path` relative to `run_dir` when it lies inside it, else unchanged."""
    try:
        return str(Path(path).resolve().relative_to(run_dir))
    except ValueError:
        return path


def _resolve(path: str, stage_dir: Path) -> str:
    """A product path from a DONE record as a path here. Relative: inside this run directory.
    Absolute and inside another run directory that this one was copied from (a record written
    before paths were relative): the same place in this run directory, when it exists here."""
    run_dir = stage_dir.resolve().parent
    if not Path(path).is_absolute():
        return str(run_dir / path)
    parts = Path(path).parts
    if stage_dir.name in parts and not Path(path).resolve().is_relative_to(run_dir):
        at = len(parts) - 1 - parts[::-1].index(stage_dir.name)
        here = run_dir.joinpath(*parts[at:])
        if here.exists():
            return str(here)
    return path
