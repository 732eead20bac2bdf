"""Padding of one update micro-batch (`TrajectoryBatch.from_trajectories`): 64 rows, 8 groups of
8 responses sharing their prompt's list (as the rollout builds them), prompts of 50-60 tokens.

    python experiments/rl_speed/round_five/padding_bench.py /work/main      # a checkout's vrl
    python experiments/rl_speed/round_five/padding_bench.py /work/wt/branch
"""

from __future__ import annotations

import random
import statistics
import sys
import time

sys.path.insert(0, sys.argv[1])
from vrl.policy.batch import TrajectoryBatch  # noqa: E402
from vrl.policy.trajectory import Trajectory  # noqa: E402

random.seed(0)
rows = []
for group in range(8):
    prompt = [random.randint(0, 400) for _ in range(random.randint(50, 60))]
    for _ in range(8):
        response = [random.randint(0, 400) for _ in range(random.randint(4, 8))]
        rows.append(
            Trajectory(
                prompt_index=group,
                group_id=group,
                sample=None,
                prompt_ids=prompt,
                response_ids=response,
                loss_mask=[1] * len(response),
                text="",
                finished=True,
                old_log_probs=[-0.5] * len(response),
                advantage=0.1,
                reward=1.0,
            )
        )
times = []
for _ in range(300):
    start = time.perf_counter()
    batch = TrajectoryBatch.from_trajectories(rows, 0)
    times.append(time.perf_counter() - start)
print(f"{sys.argv[1]}: median {statistics.median(times) * 1e6:.0f} us, input_ids {tuple(batch.input_ids.shape)}")
