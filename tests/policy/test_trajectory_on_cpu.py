"""Trajectory padding and reward inputs (vrl/policy/trajectory.py, vrl/policy/batch.py)."""

import pytest
import torch

from vrl.data.schema import Sample
from vrl.policy.batch import TrajectoryBatch
from vrl.policy.trajectory import Trajectory, reward_inputs

SAMPLE = Sample(id="q0", images=[], prompt=[], answer="2", answer_type="integer", choices=["1", "2"])


def test_batch_pads_prompts_left_and_responses_right():
    a = Trajectory(0, 0, SAMPLE, [1, 2], [5, 6, 7], [1, 0, 1], "a", True, old_log_probs=[-1.0, -2.0, -3.0])
    b = Trajectory(0, 0, SAMPLE, [1, 2, 3], [8], [1], "b", False, old_log_probs=[-4.0])
    a.advantage, b.advantage = 0.5, -0.5
    batch = TrajectoryBatch.from_trajectories([a, b], pad_token_id=0)
    assert batch.prompt_length == 3
    assert batch.input_ids.tolist() == [[0, 1, 2, 5, 6, 7], [1, 2, 3, 8, 0, 0]]
    assert batch.attention_mask.tolist() == [[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]
    assert batch.response_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch.response_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch.loss_mask.tolist() == [[1, 0, 1], [1, 0, 0]]  # the tool token (0) stays out of the loss
    assert batch.old_log_probs.tolist() == [[-1.0, -2.0, -3.0], [-4.0, 0.0, 0.0]]
    torch.testing.assert_close(batch.advantages, torch.tensor([0.5, -0.5]))
    b.old_log_probs = None
    assert TrajectoryBatch.from_trajectories([a, b], pad_token_id=0).old_log_probs is None


def test_reward_inputs_and_validation():
    t = Trajectory(3, 7, SAMPLE, [1], [5], [1], r"\boxed{2}", True, forced=True)
    completions, fields = reward_inputs([t])
    assert completions == [r"\boxed{2}"]
    assert fields["answer"] == ["2"] and fields["answer_type"] == ["integer"]
    assert fields["choices"] == [["1", "2"]]
    assert fields["finished"] == [True] and fields["forced"] == [True]
    assert "images" not in fields
    assert fields["question"] == [SAMPLE.question]  # the user text, for judges
    with pytest.raises(ValueError, match="loss_mask"):
        Trajectory(0, 0, SAMPLE, [1], [5, 6], [1], "", True)
