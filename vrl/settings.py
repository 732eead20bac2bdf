"""Checks for typed settings objects (stage settings, sampling, pools): one line per bad value.

A settings dataclass validates itself in `__post_init__` with `require`; the error names the
field, and whoever built the object from config adds where it sits (`stage.sft.` + `lr=...`),
so the user reads the exact key to fix before any work starts.
"""

from __future__ import annotations

import math
from typing import Any

from vrl.errors import ConfigError


class SettingError(ConfigError):
    """A settings field holds a bad value. `str()` is `"<field>=<value> must be <rule>"`;
    `at(prefix)` is the same error for a field configured under `prefix`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def at(self, prefix: str) -> ConfigError:
        return ConfigError(f"{prefix}.{self.message}")


def require(ok: bool, field: str, value: Any, rule: str) -> None:
    """Raise `SettingError("<field>=<value> must be <rule>")` unless `ok`."""
    if not ok:
        raise SettingError(f"{field}={value!r} must be {rule}")


def finite(value: Any) -> bool:
    """True for a real number that is neither NaN nor infinite (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require_positive(value: Any, field: str) -> None:
    """`field` must be a finite number > 0 (a learning rate, a time limit)."""
    require(finite(value) and value > 0, field, value, "> 0 and finite")
