"""Per-call costs behind round three (one thread; medians of 300 calls, microseconds):

    PYTHONPATH=. python experiments/rl_speed/round_three/calls.py

1. A Hydra 1.3.8 partial (`_partial_: true`) of the default's advantage function against the
   plain `functools.partial` `vrl.partials.plain_partial` makes of it.
2. The accuracy reward on one step's 128 answers of the embedded default's kind (16 prompts x 8
   responses, a few distinct answers per group), with the comparison cache cold and warm.
3. The log-probs and entropies of one update micro-batch (64 x 9 tokens, vocabulary 512), two
   logsumexps against one.
"""

from __future__ import annotations

import random
import statistics
import time

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from vrl.answer import equivalence
from vrl.partials import plain_partial
from vrl.policy.logits import entropy_from_logits, log_probs_and_entropy, log_probs_from_logits
from vrl.reward.accuracy import accuracy_reward


def median_us(fn, repeats: int = 300) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    torch.set_num_threads(1)
    hydra_fn = instantiate(
        OmegaConf.create({"_target_": "vrl.algorithm.group_mean_advantages", "_partial_": True})
    )
    plain = plain_partial(hydra_fn)
    rewards = torch.rand(128)
    print(f"advantage, Hydra partial: {median_us(lambda: hydra_fn(rewards, 8)):.0f} us")
    print(f"advantage, plain partial: {median_us(lambda: plain(rewards, 8)):.0f} us")

    rng = random.Random(0)
    gold = [str(rng.randint(0, 9)) for _ in range(16)]
    completions = [f"\\boxed{{{rng.choice(['3', '4', '5', 'red', '7'])}}}" for _ in range(128)]
    fields = {"answer": [g for g in gold for _ in range(8)], "answer_type": ["integer"] * 128}

    def cold() -> None:
        equivalence._compared_cached.cache_clear()
        accuracy_reward(completions, **fields)

    print(f"accuracy reward, 128 answers, cache cold: {median_us(cold, 100):.0f} us")
    print(
        f"accuracy reward, 128 answers, cache warm: {median_us(lambda: accuracy_reward(completions, **fields)):.0f} us"
    )

    logits = torch.randn(64, 9, 512, requires_grad=True)
    ids = torch.randint(0, 512, (64, 9))

    def two_passes() -> None:
        log_probs_from_logits(logits, ids)
        entropy_from_logits(logits).detach()

    print(f"log-probs + entropy, two logsumexps: {median_us(two_passes):.0f} us")
    print(
        f"log-probs + entropy, one (entropy without grad): {median_us(lambda: log_probs_and_entropy(logits, ids, False)):.0f} us"
    )


if __name__ == "__main__":
    main()
