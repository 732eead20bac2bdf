"""Turn the errors a user can fix (Hydra composition, OmegaConf, vrl's own) into one line.

Anything not recognised here is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf.errors import (
    ConfigKeyError,
    GrammarParseError,
    InterpolationResolutionError,
    MissingMandatoryValue,
    ValidationError,
)

from vrl.errors import VrlError

# Launcher keys that follow the trainer's: the fix when the trainer's value cannot be used there.
RESOLUTION_FIXES = {
    "hydra.launcher.tasks_per_node": (
        "; SLURM starts one task per training process, so give the count: trainer.devices=<processes "
        "per node> (GPU trainers: with hydra/launcher=slurm_gpu), or hydra.launcher.tasks_per_node=<n>"
    ),
    "hydra.launcher.nodes": "; give the node count: trainer.num_nodes=<n>, or hydra.launcher.nodes=<n>",
}


def one_line_error(error: BaseException, conf_dir: str) -> str | None:
    """A single-line message naming the key or file and the fix, or None for a real bug."""
    for candidate in (error, error.__cause__, error.__context__):
        if candidate is None:
            continue
        message = _classify(candidate, conf_dir)
        if message is not None:
            return " ".join(message.split())
    return None


def _classify(error: BaseException, conf_dir: str) -> str | None:
    if isinstance(error, VrlError):
        return str(error)
    if isinstance(error, MissingConfigException):
        return _missing_option(error, conf_dir)
    if isinstance(error, OverrideParseException):
        return f"cannot parse an override: {str(error).splitlines()[0]}; quote values with special characters, e.g. 'key=[a,b]'"
    if isinstance(error, MissingMandatoryValue):
        key = getattr(error, "full_key", None) or "?"
        return f"missing required value '{key}': set it on the command line, e.g. {key}=<value>"
    if isinstance(error, InterpolationResolutionError):
        key = getattr(error, "full_key", None) or "?"
        return f"cannot resolve '{key}': {str(error).splitlines()[0]}{RESOLUTION_FIXES.get(key, '')}"
    if isinstance(error, ValidationError):
        key = getattr(error, "full_key", None) or "?"
        return f"bad value for '{key}': {str(error).splitlines()[0]}"
    if isinstance(error, ConfigCompositionException):
        text = str(error)
        unknown = re.search(r"Could not override '([^']+)'", text)
        if unknown:
            key = unknown.group(1)
            return f"unknown config key '{key}': check the spelling, or add a new key with +{key}=<value>"
        deleted = re.search(r"Could not (?:delete|append to) .*'([^']+)'", text)
        if deleted:
            return f"config key '{deleted.group(1)}': {text.splitlines()[0]}"
        return text.splitlines()[0] if text.strip() else None
    if isinstance(error, OSError) and _in_hydra_job_setup(error):
        where = error.filename or "?"
        return (
            f"cannot create the run directory {where} ({error.strerror or type(error).__name__}): "
            "set hydra.run.dir (hydra.sweep.dir for -m) to a writable directory"
        )
    if isinstance(error, GrammarParseError):
        return f"cannot parse a config value: {str(error).splitlines()[0]}; quote it, e.g. key='value'"
    if isinstance(error, ConfigKeyError):
        key = getattr(error, "full_key", None) or "?"
        return f"unknown config key '{key}': check the spelling, or add it with +{key}=<value>"
    return None


def _in_hydra_job_setup(error: BaseException) -> bool:
    """True when `error` was raised while Hydra made the job's output directory, before vrl ran:
    the innermost frames are Hydra's `run_job` / `_save_config` and the file system calls they
    make, with no frame of the job itself (an OSError inside a stage is not this)."""
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    hydra_job = [
        i
        for i, code in enumerate(frames)
        if code.co_name in ("run_job", "_save_config")
        and code.co_filename.replace("\\", "/").endswith("hydra/core/utils.py")
    ]
    if not hydra_job:
        return False
    after = frames[hydra_job[-1] + 1 :]
    allowed = ("/pathlib.py", "/os.py", "hydra/core/utils.py")
    return all(code.co_filename.replace("\\", "/").endswith(allowed) for code in after)


def _missing_option(error: MissingConfigException, conf_dir: str) -> str:
    missing = error.missing_cfg_file or ""
    match = re.search(r"Could not find '([^']+)'", str(error))
    path = match.group(1) if match else missing
    group, _, option = path.rpartition("/")
    if not group:
        return f"config '{path}' not found under {conf_dir}: check the name"
    options = sorted(p.stem for p in Path(conf_dir, group).glob("*.yaml"))
    hint = ", ".join(options) if options else "none"
    key = group.replace("/", ".")
    prefix = "+" if group in ("experiment", "sweeps") else ""
    return f"unknown option '{option}' for '{key}' (available: {hint}); fix: {prefix}{key}=<one of them>"
