"""A run directory's record of how it was made, and the rule that a rerun never silently changes it.

Running into an existing run directory resumes it (finished stages are skipped, training
resumes from its checkpoint). The settings must be the ones the run was made with:

- `restore_overrides` (`python -m vrl hydra.run.dir=<run dir> [overrides]`, before Hydra
  composes): the overrides saved in `<run dir>/.hydra/overrides.yaml` that the command line does
  not set are added back, so a bare resume runs the run's own config.
- `check_config` (every start of a run, in `vrl.run`: by hand, a requeued SLURM job, every rank):
  the composed config is compared with `<run dir>/.hydra/config.yaml`; a difference stops the
  run with one line naming the keys, unless `accept_changes=true`. Requeued jobs recompose the
  config from the files on disk, so this also catches a config edited while a sweep waited.
- `record` then writes `.hydra/` (config, overrides, hydra) itself: Hydra is told not to
  (`hydra.output_subdir: null`), since it would overwrite the record before the check. With
  accepted changes the earlier files are kept in `.hydra/history/<n>/`; finished stages keep
  their own DONE.json.
- `invocations.jsonl` holds one line per start (command, SLURM job and restart, ranks,
  accepted changes) and one per end (finished, interrupted by a signal, failed); `summary.md`
  lists them all.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vrl.errors import ConfigError

# Keys that may differ between starts of one run: they change nothing the run computes.
# `paths`: where the run is (a copied or moved run dir resolves relative to itself);
# `stages`: which stages to run (adding one extends the run; finished ones are skipped as they ran).
IGNORED = ("accept_changes", "trainer.enable_progress_bar", "paths", "stages")
RECORD = ".hydra"
INVOCATIONS = "invocations.jsonl"


# -- before Hydra: restore the run's overrides ---------------------------------------------------


def restore_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """`argv` (sys.argv[1:]) plus the run directory's saved overrides it does not set, and those
    added. Only for a single run into an existing run dir (`hydra.run.dir=...`, no `-m`)."""
    if any(a in ("-m", "--multirun") or a.startswith("--") and a != "--" for a in argv):
        return argv, []
    run_dirs = [a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")]
    if not run_dirs:
        return argv, []
    saved_file = Path(run_dirs[-1].strip("'\"")) / RECORD / "overrides.yaml"
    if not saved_file.is_file():
        return argv, []
    saved = [str(o) for o in OmegaConf.to_container(OmegaConf.load(saved_file)) or []]
    given = {_override_key(a) for a in argv if not a.startswith("-")}
    missing = [o for o in saved if _override_key(o) not in given]
    return [*argv, *missing], missing


def _override_key(text: str) -> str:
    """The key an override sets: `+experiment=x` -> `experiment`, `stage.sft.lr=1` -> `stage.sft.lr`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        override = OverridesParser.create().parse_override(text)
    except Exception:  # noqa: BLE001 - Hydra reports the bad override itself later
        return text.split("=", 1)[0].lstrip("+~")
    package = f"@{override.package}" if override.package else ""
    return f"{override.key_or_group}{package}"


# -- at the start of the run: check, then record ------------------------------------------------


def check_config(cfg: DictConfig, run_dir: Path) -> list[str]:
    """The keys whose values differ from the run dir's recorded config (empty for a new run).

    Raises ConfigError when some differ and `accept_changes` is not set."""
    recorded = run_dir / RECORD / "config.yaml"
    if not recorded.is_file():
        return []
    old = flatten(OmegaConf.to_container(OmegaConf.load(recorded), resolve=False))
    new = flatten(OmegaConf.to_container(cfg, resolve=False))
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k, _ABSENT) != new.get(k, _ABSENT))
    changed = [k for k in changed if not any(k == i or k.startswith(i + ".") for i in IGNORED)]
    if changed and not cfg.get("accept_changes", False):
        shown = ", ".join(
            f"{k} ({_show(old.get(k, _ABSENT))} -> {_show(new.get(k, _ABSENT))})" for k in changed[:6]
        )
        more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
        raise ConfigError(
            f"{run_dir} was made with other settings: {shown}{more}; rerun with its own settings "
            f"(`python -m vrl hydra.run.dir={run_dir}` restores them), or add accept_changes=true "
            "to run its unfinished stages with the new ones"
        )
    return changed


def record(cfg: DictConfig, run_dir: Path, changed: list[str]) -> None:
    """Write `.hydra/` (config.yaml, overrides.yaml, hydra.yaml); with accepted changes, keep the
    earlier ones in `.hydra/history/<n>/`. Rank 0 only."""
    from hydra.core.hydra_config import HydraConfig

    out = run_dir / RECORD
    out.mkdir(parents=True, exist_ok=True)
    if changed:
        history = out / "history"
        keep = history / str(len(list(history.glob("*"))) if history.exists() else 0)
        keep.mkdir(parents=True)
        for name in ("config.yaml", "overrides.yaml", "hydra.yaml"):
            if (out / name).exists():
                shutil.copy2(out / name, keep / name)
    OmegaConf.save(cfg, out / "config.yaml")
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        OmegaConf.save(OmegaConf.create(list(hydra_cfg.overrides.task)), out / "overrides.yaml")
        OmegaConf.save(OmegaConf.create({"hydra": hydra_cfg}), out / "hydra.yaml")


# -- the invocation log --------------------------------------------------------------------------


def start(run_dir: Path, changed: list[str], world_size: int) -> int:
    """Append this start to `invocations.jsonl`; return its number."""
    from hydra.core.hydra_config import HydraConfig

    path = run_dir / INVOCATIONS
    number = len(read(run_dir)) + 1
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    job = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{job}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if job else os.environ.get("SLURM_JOB_ID")
    _append(
        path,
        {
            "n": number,
            "start": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": command(),
            "overrides": overrides,
            "host": socket.gethostname(),
            "slurm_job": job,
            "slurm_restart": int(os.environ.get("SLURM_RESTART_COUNT", 0)) if job else None,
            "ranks": world_size,
            "accepted_changes": changed,
        },
    )
    return number


def command() -> str:
    """The user's command line, as typed (`python -m vrl ...`): `VRL_COMMAND`, which the entry
    point sets and a sweep's jobs inherit (their own argv is submitit's wrapper), else argv."""
    if os.environ.get("VRL_COMMAND"):
        return os.environ["VRL_COMMAND"]
    program = sys.argv[0]
    if program.endswith(("vrl/__main__.py", "vrl\\__main__.py")):
        program = "python -m vrl"
    return " ".join([program, *sys.argv[1:]])


def end(run_dir: Path, number: int, status: str) -> None:
    """Append how invocation `number` ended: "finished", "interrupted: ...", "failed: ..."."""
    _append(run_dir / INVOCATIONS, {"n": number, "end": time.strftime("%Y-%m-%d %H:%M:%S"), "status": status})


def read(run_dir: Path) -> list[dict[str, Any]]:
    """One dict per invocation (start and end lines merged), oldest first."""
    path = run_dir / INVOCATIONS
    merged: dict[int, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            merged.setdefault(int(entry["n"]), {}).update(entry)
    return [merged[n] for n in sorted(merged)]


def table(run_dir: Path) -> str:
    """Markdown table of every invocation (for summary.md)."""
    rows = [
        "| # | started | ended | status | SLURM job (restart) | ranks | command |",
        "|---|---|---|---|---|---:|---|",
    ]
    for inv in read(run_dir):
        job = f"{inv['slurm_job']} ({inv['slurm_restart']})" if inv.get("slurm_job") else ""
        status = inv.get("status", "killed (no end recorded)")
        if inv.get("accepted_changes"):
            status += f"; accepted changes: {', '.join(inv['accepted_changes'])}"
        command = inv.get("command", "").replace("|", "\\|")
        rows.append(
            f"| {inv['n']} | {inv.get('start', '')} | {inv.get('end', '')} | {status} | {job} | "
            f"{inv.get('ranks', 1)} | `{command}` |"
        )
    return "\n".join(rows)


def _append(path: Path, entry: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as {"a.b.c": leaf}; an empty mapping is a leaf of its own."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): node}


def _show(value: Any) -> str:
    text = "absent" if value is _ABSENT else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
