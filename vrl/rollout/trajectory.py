"""`Trajectory`: one sampled response and everything the RL stage learns about it.

Flow of a step: rollout creates trajectories (ids, text, finished, old log-probs) ->
rethinking may replace some (forced=True) -> reward fills `reward` -> the advantage estimator
fills `advantage` -> replay selects the training batch -> `TrajectoryBatch` pads it to tensors
for the loss. Token data are plain lists (picklable, torch-free); tensors exist only in
`TrajectoryBatch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vrl.data.schema import Sample

# Sample fields the rewards receive (images and the chat prompt stay behind).
_REWARD_SAMPLE_FIELDS = ("id", "answer", "answer_type", "choices", "category", "source", "metadata")


@dataclass
class Trajectory:
    """One response to one prompt.

    Attributes:
        prompt_index: position of its prompt in the step's prompt batch.
        group_id: identifies the group of responses to the same prompt in the same step,
            unique over the run (e.g. step * prompts_per_step + prompt_index).
        sample: the problem (a reference, not a copy).
        prompt_ids: prompt token ids, image tokens expanded, as the model saw them.
        response_ids: generated token ids (including any tool-output tokens), no padding, no EOS
            beyond the one the model emitted.
        loss_mask: one 0/1 per response token: 1 = sampled by the policy (trained on),
            0 = inserted by the environment (tool output).
        text: the decoded response.
        finished: True if generation ended with EOS (not cut by the length limit).
        forced: True if produced by forced rethinking (see `vrl.rethink`).
        old_log_probs: per response token, log-prob under the sampling policy; None when it
            must be recomputed (e.g. after rethinking inserted a trigger).
        reward: scalar reward, once scored.
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
    reward: float | None = None
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
        if self.old_log_probs is not None and len(self.old_log_probs) != len(self.response_ids):
            raise ValueError(
                f"old_log_probs has {len(self.old_log_probs)} entries for {len(self.response_ids)} tokens"
            )


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


@dataclass
class TrajectoryBatch:
    """Trajectories padded to tensors: prompts left-padded to P, responses right-padded to T.

    Attributes:
        input_ids: `[B, P + T]` prompt then response tokens.
        attention_mask: `[B, P + T]` 1 on real tokens.
        response_mask: `[B, T]` 1 on real response tokens (policy and tool output).
        loss_mask: `[B, T]` 1 on policy tokens only: the mask for losses and aggregation.
        old_log_probs: `[B, T]` float32 (0 on padding), or None unless every trajectory has them.
        advantages: `[B]` float32 (0 where unset).
        rewards: `[B]` float32 (0 where unset).
        prompt_length: P; the response logits are those at positions P-1 .. P+T-2.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor
    loss_mask: torch.Tensor
    old_log_probs: torch.Tensor | None
    advantages: torch.Tensor
    rewards: torch.Tensor
    prompt_length: int

    @classmethod
    def from_trajectories(cls, trajectories: Sequence[Trajectory], pad_token_id: int) -> TrajectoryBatch:
        if not trajectories:
            raise ValueError("cannot pad an empty list of trajectories")
        b = len(trajectories)
        p = max(len(t.prompt_ids) for t in trajectories)
        t_len = max(max(len(t.response_ids) for t in trajectories), 1)
        input_ids = torch.full((b, p + t_len), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((b, p + t_len), dtype=torch.long)
        loss_mask = torch.zeros((b, t_len), dtype=torch.float32)
        have_old = all(t.old_log_probs is not None for t in trajectories)
        old = torch.zeros((b, t_len), dtype=torch.float32) if have_old else None
        for i, traj in enumerate(trajectories):
            n_prompt, n_resp = len(traj.prompt_ids), len(traj.response_ids)
            input_ids[i, p - n_prompt : p] = torch.tensor(traj.prompt_ids, dtype=torch.long)
            input_ids[i, p : p + n_resp] = torch.tensor(traj.response_ids, dtype=torch.long)
            attention_mask[i, p - n_prompt : p + n_resp] = 1
            loss_mask[i, :n_resp] = torch.tensor(traj.loss_mask, dtype=torch.float32)
            if old is not None:
                old[i, :n_resp] = torch.tensor(traj.old_log_probs, dtype=torch.float32)
        return cls(
            input_ids=input_ids,
            attention_mask=attention_mask,
            response_mask=attention_mask[:, p:].float(),
            loss_mask=loss_mask,
            old_log_probs=old,
            advantages=torch.tensor([t.advantage or 0.0 for t in trajectories], dtype=torch.float32),
            rewards=torch.tensor([t.reward or 0.0 for t in trajectories], dtype=torch.float32),
            prompt_length=p,
        )

    @property
    def response_ids(self) -> torch.Tensor:
        """`[B, T]` response tokens (padding where `response_mask` is 0)."""
        return self.input_ids[:, self.prompt_length :]
