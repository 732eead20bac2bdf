"""Hand-made trajectories for the replay and rethink tests."""

import pytest

from vrl.data.schema import Sample
from vrl.rollout.trajectory import Trajectory


def make_trajectory(group, reward=0.0, advantage=0.0, *, text="", tokens=3, step=0, answer="1", **kwargs):
    sample = Sample(id=f"q{group}", images=[], prompt=[{"role": "user", "content": "?"}], answer=answer)
    return Trajectory(
        prompt_index=group,
        group_id=group,
        sample=sample,
        prompt_ids=[1, 2],
        response_ids=list(range(10, 10 + tokens)),
        loss_mask=[1] * tokens,
        text=text,
        finished=kwargs.pop("finished", True),
        reward=reward,
        advantage=advantage,
        step=step,
        **kwargs,
    )


@pytest.fixture
def traj():
    return make_trajectory
