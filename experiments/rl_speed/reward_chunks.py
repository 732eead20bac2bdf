"""Wall and parent-CPU ms of one `RewardPool` call on 128 completions, by `chunk_size`.

    OMP_NUM_THREADS=1 PYTHONPATH=. python experiments/rl_speed/reward_chunks.py

The accuracy reward (`reward=math_verify`), inline and in 2 worker processes with 1, 16 and
64 completions per task; median of 8 calls after a warm-up call.
"""

from __future__ import annotations

import time

from vrl.reward import RewardPool, accuracy_reward


def main() -> None:
    completions = [f"The answer is \\boxed{{{i % 7}}}" if i % 3 else "\\boxed{green}" for i in range(128)]
    fields = {"answer": [str(i % 5) for i in range(128)], "answer_type": ["number"] * 128}
    for label, pool in (
        ("inline", {"num_workers": 0}),
        ("2 workers, chunk 1", {"num_workers": 2}),
        ("2 workers, chunk 16", {"num_workers": 2, "chunk_size": 16}),
        ("2 workers, chunk 64", {"num_workers": 2, "chunk_size": 64}),
    ):
        with RewardPool({"accuracy": accuracy_reward}, pool=pool) as reward:
            reward(completions, **fields)
            walls, cpus = [], []
            for _ in range(8):
                wall, cpu = time.perf_counter(), time.process_time()
                reward(completions, **fields)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
        print(f"{label}: wall {1000 * sorted(walls)[4]:.1f} ms, parent CPU {1000 * sorted(cpus)[4]:.1f} ms")


if __name__ == "__main__":  # the forkserver workers re-import this module
    main()
