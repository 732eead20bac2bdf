"""Rethinking: rewrite some responses of a fresh rollout so they re-examine themselves.

Protocol (`vrl.rethink.base.Rethink`): `augment(batch, continue_fn) -> (batch, stats)`, run
after the rollout and before rewards. `continue_fn(items, **overrides) -> [Continuation]` is
the rollout engine's boundary (`vrl.policy.continuation`): it generates after
`prompt + prefix_text` for each `(trajectory, prefix_text)` and returns the new text, the new
token ids, whether it finished, and the prefix's token ids. Options in `conf/rethink/`: `none`
(`NoRethink`), `forced` (`ForcedRethink`, VL-Rethinker).
"""

from vrl.rethink.base import Rethink
from vrl.rethink.forced import ForcedRethink
from vrl.rethink.none import NoRethink
from vrl.rethink.truncate import DEFAULT_CUT_MARKERS, cut_before_answer

__all__ = ["DEFAULT_CUT_MARKERS", "ForcedRethink", "NoRethink", "Rethink", "cut_before_answer"]
