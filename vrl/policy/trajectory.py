"""`Trajectory`: one sampled response and everything the RL stage learns about it.

Flow of a step: rollout creates trajectories (ids, text, finished, old log-probs) ->
rethinking may replace some (forced=True) -> reward fills `reward` -> the advantage estimator
fills `advantage` -> replay selects the training batch -> `vrl.policy.batch.TrajectoryBatch`
pads it to tensors for the loss. Token data are plain lists (picklable, torch-free).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vrl.data.schema import Sample

# Sample fields the rewards receive (images and the chat prompt stay behind; `question` is the
# last user message's text, for judges).
_REWARD_SAMPLE_FIELDS = (
    "id",
    "question",
    "answer",
    "answer_type",
    "choices",
    "category",
    "source",
    "metadata",
)


@dataclass
class Trajectory:
    """One response to one prompt.

    Attributes:
        prompt_index: position of its prompt in the step's prompt batch.
        group_id: identifies the group of responses to the same prompt in the same step,
            unique over the run (e.g. step * prompts_per_step + prompt_index).
        sample: the problem (a reference, not a copy).
        prompt_ids: prompt token ids, image tokens expanded, as the model saw them (the rows
            of a group may share one list: never changed in place).
        response_ids: generated token ids (including any tool-output tokens), no padding, no EOS
            beyond the one the model emitted.
        loss_mask: one 0/1 per response token: 1 = sampled by the policy (trained on),
            0 = inserted by the environment (tool output).
        text: the decoded response.
        finished: True if generation ended with EOS (not cut by the length limit).
        forced: True if produced by forced rethinking (see `vrl.rethink`).
        old_log_probs: per response token, log-prob under the policy that sampled it, as the
            trainer computes it (`vrl.policy.log_probs.response_log_probs`); None until then.
        sampling_log_probs: per response token, the log-prob the rollout engine itself reported
            while sampling (vLLM), kept only as the behaviour policy's record (diagnostics:
            `vrl.algorithm.rollout_mismatch`); tool-output tokens (loss mask 0) hold 0.0, which
            nothing reads. None when the engine reports none, or when the response holds tokens
            it did not sample under the policy (forced rethinking's trigger and prefix).
        reward: scalar reward, once scored.
        reward_parts: each reward function's value for it (None: that function gave none),
            once scored; for sample tables.
        advantage: scalar advantage, once estimated.
        step: training step whose rollout produced it (replayed trajectories are older).
        tool_images: images a tool returned inside the response, in the order their image
            tokens appear in `response_ids` (the policy forward feeds the sample's images, then
            these); empty without tools.
        tool_calls: tool calls the response made (`vrl.rollout.multiturn`).
        tool_errors: of those, calls that failed (bad call, sandbox error, invalid box).
    """

    prompt_index: int
    group_id: int
    sample: Sample
    prompt_ids: list[int]
    response_ids: list[int]
    loss_mask: list[int]
    text: str
    finished: bool
    forced: bool = False
    old_log_probs: list[float] | None = None
    sampling_log_probs: list[float] | None = None
    reward: float | None = None
    reward_parts: dict[str, float | None] = field(default_factory=dict)
    advantage: float | None = None
    step: int = 0
    tool_images: list[Any] = field(default_factory=list)
    tool_calls: int = 0
    tool_errors: int = 0

    @property
    def images(self) -> list[Any]:
        """Every image of the row, in token order: the prompt's, then the tools'."""
        return [*self.sample.images, *self.tool_images]

    def __post_init__(self) -> None:
        if len(self.loss_mask) != len(self.response_ids):
            raise ValueError(
                f"loss_mask has {len(self.loss_mask)} entries for {len(self.response_ids)} tokens"
            )
        for name in ("old_log_probs", "sampling_log_probs"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.response_ids):
                raise ValueError(f"{name} has {len(values)} entries for {len(self.response_ids)} tokens")


def reward_inputs(trajectories: Sequence[Trajectory]) -> tuple[list[str], dict[str, list[Any]]]:
    """`(completions, fields)` for the reward contract `fn(completions, **fields)`."""
    completions = [t.text for t in trajectories]
    fields: dict[str, list[Any]] = {
        name: [getattr(t.sample, name) for t in trajectories] for name in _REWARD_SAMPLE_FIELDS
    }
    fields["finished"] = [t.finished for t in trajectories]
    fields["forced"] = [t.forced for t in trajectories]
    # Tool use, as counts: rewards run in worker processes, so the images themselves stay here.
    fields["tool_calls"] = [t.tool_calls for t in trajectories]
    fields["tool_errors"] = [t.tool_errors for t in trajectories]
    fields["tool_images"] = [len(t.tool_images) for t in trajectories]
    return completions, fields
