"""Replay policies: choose each step's training batch from its scored trajectories.

Protocol (`vrl.replay.base.Replay`): `select(batch, step) -> list[Trajectory]` after
advantages, `stats` (`replay/effective_ratio`, `replay/effective_query_ratio`,
`replay/buffer_size`, `replay/replayed`, ...), `needs_more(n)` for dynamic sampling, and
`state_dict()` / `load_state_dict()` for checkpoints. Options in `conf/replay/`:
`none` (`NoReplay`), `filter` (`FilterReplay`, DAPO dynamic sampling), `ssr`
(`SelectiveSampleReplay`, VL-Rethinker).
"""

from vrl.replay.base import Replay, effectiveness_stats
from vrl.replay.filter import FilterReplay
from vrl.replay.none import NoReplay
from vrl.replay.ssr import SelectiveSampleReplay

__all__ = ["FilterReplay", "NoReplay", "Replay", "SelectiveSampleReplay", "effectiveness_stats"]
