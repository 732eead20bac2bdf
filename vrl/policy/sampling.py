"""`Sampling`: how a rollout engine samples, and the one rule that changes it for a purpose.

The `rollout` group owns the run's sampling (`rollout.sampling`): RL rollouts use it as it is.
Whoever samples for another purpose states only what differs, as overrides, and they are
applied in this order, each with `Sampling.override` (later wins, `None` leaves a value alone):

    rollout.sampling                         the run's sampling (RL rollouts)
      <- stage.eval.sampling                 eval's purpose: greedy decoding
      <- benchmark.<name>.sampling           a benchmark's own needs: its answer length
      <- stage.eval.max_new_tokens           a cap for quick looks (min, not an override)
    and, inside a rollout:
      <- rethink.sampling                    forced rethinking's continuation temperature
      <- rollout.tool.code_sampling          GRPO-ATS: the code of a tool call, greedy

Every value is checked where it is set (one line naming the field), so a bad `top_p` stops
the run before any work starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vrl.settings import SettingError, finite, require


@dataclass(frozen=True)
class Sampling:
    """Decoding settings of one generate call.

    Attributes:
        max_new_tokens: response length cap, in tokens (per generation round of a tool loop).
        temperature: softmax temperature; 0 = greedy decoding. RL rollouts must sample (> 0):
            the policy's log-probs are taken at this temperature.
        top_p: nucleus sampling, in (0, 1]; 1 = off.
        top_k: top-k sampling; 0 = off.
        repetition_penalty: > 1 discourages repeats; 1 = off.
        stop: extra stop strings besides EOS; the response keeps the stop string.
    """

    max_new_tokens: int = 1024
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    stop: Sequence[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(str(s) for s in self.stop or ()))
        checks = (
            ("max_new_tokens", self.max_new_tokens >= 1, ">= 1"),
            (
                "temperature",
                finite(self.temperature) and self.temperature >= 0,
                ">= 0 and finite (0 = greedy)",
            ),
            ("top_p", 0 < self.top_p <= 1, "in (0, 1] (1 = off)"),
            ("top_k", self.top_k >= 0, ">= 0 (0 = off)"),
            (
                "repetition_penalty",
                finite(self.repetition_penalty) and self.repetition_penalty > 0,
                "> 0 (1 = off)",
            ),
            ("stop", all(self.stop), "non-empty strings (an empty one would stop at once)"),
        )
        for name, ok, rule in checks:
            require(ok, f"sampling.{name}", getattr(self, name), rule)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def override(self, **changes: Any) -> Sampling:
        """A copy with `changes` applied (`None` values ignored); unknown keys are refused."""
        unknown = sorted(set(changes) - FIELDS)
        if unknown:
            raise SettingError(
                f"sampling has no {', '.join(unknown)} (it has {', '.join(sorted(FIELDS))}); fix the key"
            )
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given) if given else self

    def capped(self, max_new_tokens: int | None) -> Sampling:
        """A copy whose length is at most `max_new_tokens` (None = unchanged)."""
        if max_new_tokens is None or max_new_tokens >= self.max_new_tokens:
            return self
        return dataclasses.replace(self, max_new_tokens=max_new_tokens)


FIELDS = frozenset(field.name for field in dataclasses.fields(Sampling))


def merge(base: Sampling, *overrides: Mapping[str, Any], cap: int | None = None) -> Sampling:
    """`base` with each mapping of `overrides` applied in order (later wins), then its length
    capped at `cap`: the one merge of the module docstring, e.g. for a benchmark
    `merge(rollout.sampling, stage.eval.sampling, benchmark.sampling, cap=stage.eval.max_new_tokens)`."""
    for layer in overrides:
        base = base.override(**dict(layer or {}))
    return base.capped(cap)


def check_overrides(field: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """`overrides` as a plain dict after checking them against a default `Sampling`, so a bad
    key or value is reported as `<field>.<key>=...` where it is configured, before any work."""
    plain = dict(overrides or {})
    try:
        Sampling().override(**plain)
    except SettingError as error:
        raise SettingError(field + error.message.removeprefix("sampling")) from None
    return plain
