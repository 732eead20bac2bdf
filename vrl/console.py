"""What the terminal shows: vrl's own lines and progress, not third-party chatter.

`quiet_console()` (called by `vrl.run` on every rank) routes Python warnings into logging, so
they reach the job log `<run dir>/<name>.log` like every other line, and keeps the lines of
`QUIET` off the console, each for the reason given there; Lightning's lines go through the
same handlers (it had its own console handler, so they missed the job log); it also turns off the progress bars
of datasets, transformers and huggingface_hub (saving 56 records or loading 57 tensors drew a
bar each). Anything not listed still reaches the console.
"""

from __future__ import annotations

import logging
import re

# (logger name prefix, message pattern, why it stays off the console; the job log keeps it)
QUIET: list[tuple[str, str, str]] = [
    (
        "py.warnings",
        r"The `srun` command is available",
        "vrl starts its own ranks; SLURM jobs use srun already",
    ),
    ("py.warnings", r"isinstance\(treespec, LeafSpec\)", "a deprecation inside Lightning, not in vrl's code"),
    ("lightning", r"`weights_only` was not set", "vrl loads its own checkpoints (they hold RNG states)"),
    ("py.warnings", r"Total length of .* across ranks is zero", "a stage without validation data"),
    ("lightning", r"^(GPU|TPU|HPU) available", "the trainer settings say which accelerator runs"),
    ("lightning", r"Tip: For seamless cloud logging", "an advertisement for another logger"),
    ("lightning", r"^`Trainer.fit` stopped: `max_steps=", "the stage's own 'done' line says it"),
]

# Libraries that give their loggers a console handler of their own at import (Lightning's before
# Hydra configured logging): their lines missed the job log, or were printed twice.
LIBRARY_LOGGERS = (
    "lightning",
    "lightning.pytorch",
    "lightning.fabric",
    "pytorch_lightning",
    "lightning_fabric",
    "torchmetrics",
    "transformers",
    "huggingface_hub",
)


class ConsoleFilter(logging.Filter):
    """Drops the records `QUIET` lists (a console handler's filter; file handlers keep them)."""

    def __init__(self, rules: list[tuple[str, str, str]] | None = None) -> None:
        super().__init__()
        self.rules = [(prefix, re.compile(pattern)) for prefix, pattern, _ in (rules or QUIET)]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(record.name.startswith(prefix) and rx.search(message) for prefix, rx in self.rules)


def quiet_console() -> None:
    """Install `ConsoleFilter` on the root logger's console handlers (idempotent), send warnings
    through logging, and turn the libraries' progress bars off."""
    logging.captureWarnings(True)
    for name in LIBRARY_LOGGERS:  # imported before Hydra set up logging, they print on their own
        library = logging.getLogger(name)
        for handler in list(library.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                library.removeHandler(handler)
        library.propagate = True  # to the root's handlers: the console (filtered) and the job log
    for handler in logging.getLogger().handlers:
        is_console = isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        )
        if is_console and not any(isinstance(f, ConsoleFilter) for f in handler.filters):
            handler.addFilter(ConsoleFilter())
    import datasets
    import huggingface_hub
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
