"""A policy whose every reply is scripted: the real tool loop, sandbox, eval stage and scorers run
around it, so end-to-end tests can assert what a model that calls tools correctly scores.

Used as a rollout engine from the command line (tests put this folder on PYTHONPATH):

    python -m vrl ... rollout._target_=scripted_policy.ScriptedEngine +rollout.script=<file.json>

The script is `{sample id: [reply of round 1, reply of round 2, ...]}`; a sample without one
replies "<answer>none</answer>". Replies are tokenised with the run's processor, so the tool loop
cuts them at its stop strings and appends tool results exactly as for sampled text.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vrl.data.schema import Sample
from vrl.policy.continuation import Continuation
from vrl.policy.sampling import Sampling
from vrl.policy.trajectory import Trajectory
from vrl.rollout.hf import HFRolloutEngine

FALLBACK = "<answer>none</answer>"


class ScriptedEngine(HFRolloutEngine):
    """An hf engine that replies from a script instead of sampling (arguments: `Engine`'s + `script`)."""

    def __init__(
        self,
        script: str | dict[str, list[str]],
        batch_size: int = 32,
        sampling: Sampling | None = None,
        tool_loop: Any = None,
        sandbox: Any = None,
    ) -> None:
        super().__init__(batch_size, sampling, tool_loop, sandbox)
        self.script = script if isinstance(script, dict) else json.loads(Path(script).read_text())
        self.rounds: dict[str, int] = defaultdict(int)

    def _reply(self, sample_id: str) -> str:
        replies = self.script.get(sample_id, [FALLBACK])
        index = self.rounds[sample_id]
        self.rounds[sample_id] += 1
        return replies[index] if index < len(replies) else FALLBACK

    def generate_texts(
        self, model, processor, samples: Sequence[Sample], n: int, sampling: Sampling
    ) -> list[str]:
        return [self._reply(s.id) for s in samples for _ in range(n)]

    def sample_trajectories(
        self, model, processor, samples, n, sampling, step, first_group_id, image_cache=None
    ) -> list[Trajectory]:
        tokenizer = processor.tokenizer
        out = []
        for index, sample in enumerate(samples):
            prompt = tokenizer(sample.question, add_special_tokens=False)["input_ids"]
            for _ in range(n):
                text = self._reply(sample.id)
                ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                out.append(
                    Trajectory(
                        prompt_index=index,
                        group_id=first_group_id + index,
                        sample=sample,
                        prompt_ids=prompt,
                        response_ids=ids,
                        loss_mask=[1] * len(ids),
                        text=text,
                        finished=True,
                        step=step,
                    )
                )
        return out

    def continue_trajectories(
        self, model, processor, items: list[tuple[Trajectory, str]], sampling: Sampling
    ) -> list[Continuation]:
        tokenizer = processor.tokenizer
        out = []
        for trajectory, prefix in items:
            text = self._reply(trajectory.sample.id)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
            out.append(Continuation(text=text, token_ids=ids, finished=True, prefix_ids=prefix_ids))
        return out
