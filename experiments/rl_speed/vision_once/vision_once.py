"""An update micro-batch with the vision tower once per row (stock) vs once per distinct image.

    OMP_NUM_THREADS=1 PYTHONPATH=. python experiments/rl_speed/vision_once/vision_once.py <model dir> <train dir> [P] [G]

P prompts of the train set, each answered G times with 8 fixed response tokens (a group's rows
share their prompt's image object, as in an RL step); one training forward + backward of the
P x G rows through `vrl.policy.log_probs.policy_inputs` with `images_once=False` (the stock
forward: the tower encodes every row's image) and `True` (`vrl.policy.vision`), and the same
for an eval-mode log-prob forward. Process CPU ms, median of 5, alternating the two paths.
"""

from __future__ import annotations

import sys
import time

import torch
from datasets import load_from_disk

from vrl.model import TinyQwen25VL
from vrl.policy.images import encode_prompts
from vrl.policy.log_probs import policy_inputs, response_logits, token_log_probs
from vrl.policy.trajectory import Trajectory
from vrl.rl.data import PromptStream


def rows(processor, samples, group: int) -> list[Trajectory]:
    out = []
    for index, sample in enumerate(samples):
        prompt = encode_prompts(processor, [sample])["input_ids"][0].tolist()
        for member in range(group):
            response = [20 + (index + member + k) % 30 for k in range(8)]
            out.append(Trajectory(index, index, sample, prompt, response, [1] * 8, "", True))
    return out


def update_ms(model, processor, trajectories, images_once: bool) -> float:
    start = time.process_time()
    model.zero_grad()
    batch, inputs = policy_inputs(model, processor, trajectories, images_once=images_once)
    log_probs, _ = token_log_probs(response_logits(model, inputs, batch), batch.response_ids)
    (log_probs * batch.loss_mask).sum().backward()
    return 1000 * (time.process_time() - start)


def log_prob_ms(model, processor, trajectories, images_once: bool) -> float:
    start = time.process_time()
    with torch.no_grad():
        batch, inputs = policy_inputs(model, processor, trajectories, images_once=images_once)
        response_logits(model, inputs, batch)
    return 1000 * (time.process_time() - start)


def main(model_dir: str, train_dir: str, prompts: int = 16, group: int = 8, repeats: int = 5) -> None:
    torch.set_num_threads(1)
    loaded = TinyQwen25VL().load(model_dir)
    model, processor = loaded.model, loaded.processor
    trajectories = rows(
        processor, PromptStream(load_from_disk(train_dir), prompts, seed=0).batch_at(0), group
    )
    print(f"{prompts} x {group} rows; process CPU ms, median of {repeats}")
    for name, measure, mode in (
        ("update fwd+bwd", update_ms, model.train),
        ("log-prob fwd", log_prob_ms, model.eval),
    ):
        mode()
        times = {False: [], True: []}
        for _ in range(repeats + 1):  # the first pair warms up
            for once in (False, True):
                times[once].append(measure(model, processor, trajectories, once))
        stock, once = (sorted(times[k][1:])[repeats // 2] for k in (False, True))
        print(f"{name:15s} stock {stock:7.1f}  once per image {once:7.1f}  ({stock / once:.2f}x)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(x) for x in sys.argv[3:5]))
