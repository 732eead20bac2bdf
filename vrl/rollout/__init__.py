"""Rollout engines: turn prompts (samples) into responses with a model.

`base.RolloutEngine` is the protocol the RL step and the eval stage use; `base.Engine` its shared
half (sampling merge, tool loop). Engines: `HFRolloutEngine` (`rollout=hf`), `fast.FastRolloutEngine` (`rollout=fast`: hf with vrl's
own decode loop), `VLLMRolloutEngine`
(`rollout=vllm`, imported from `vrl.rollout.vllm` on demand). The multi-turn tool loop
(`tool_loop.ToolLoop`, `tool=code|zoom`) is part of the rollout configuration
(`rollout.tool_loop`) and runs inside whichever engine is chosen.
"""

from vrl.rollout.base import Engine, RolloutEngine
from vrl.rollout.hf import HFRolloutEngine
from vrl.rollout.tool_loop import ToolLoop

__all__ = ["Engine", "HFRolloutEngine", "RolloutEngine", "ToolLoop"]
