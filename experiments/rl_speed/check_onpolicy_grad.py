"""Old log-probs from the eval-mode pass vs `log_probs.detach()`: the same PPO-clip gradient at
one PPO epoch? (experiments/rl_speed, fix 1.)  python experiments/rl_speed/check_onpolicy_grad.py"""

import itertools
import tempfile
from functools import partial
from pathlib import Path

import torch

from vrl.algorithm import Algorithm, grpo_advantages, policy_objective, ppo_clip_loss, seq_mean_token_mean
from vrl.data.procedural import ProceduralSource
from vrl.model import TinyQwen25VL
from vrl.policy.log_probs import policy_inputs, response_log_probs, response_logits, token_log_probs
from vrl.rollout import HFRolloutEngine

torch.manual_seed(0)
src = ProceduralSource(num_samples=16, image_size=56)
samples = list(itertools.islice(src.iter_samples(), 4))
with tempfile.TemporaryDirectory() as d:
    loaded = TinyQwen25VL().load(TinyQwen25VL().resolve(Path(d), list(src.corpus())))
model, proc = loaded.model, loaded.processor
trajs = HFRolloutEngine(max_new_tokens=16, temperature=1.0).rollout(
    model, proc, samples, 4, with_log_probs=False
)
for t, a in zip(trajs, torch.randn(len(trajs)).tolist()):
    t.advantage = a
old = response_log_probs(model, proc, trajs, 1.0, 16)
for t, row in zip(trajs, old):
    t.old_log_probs = row
alg = Algorithm(
    advantage=grpo_advantages,
    policy_loss=partial(ppo_clip_loss, eps_low=0.2, eps_high=0.2),
    aggregation=seq_mean_token_mean,
)
totals = {"global_token_count": sum(len(t.response_ids) for t in trajs), "global_seq_count": len(trajs)}
grads = []
for use_detach in (False, True):
    model.zero_grad()
    model.train()
    batch, inputs = policy_inputs(model, proc, trajs)
    lp, _ = token_log_probs(response_logits(model, inputs, batch), batch.response_ids, 1.0)
    loss, _ = policy_objective(
        alg,
        lp,
        lp.detach() if use_detach else batch.old_log_probs,
        batch.advantages,
        batch.loss_mask,
        **totals,
    )
    loss.backward()
    grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    print(
        "loss",
        float(loss.detach()),
        "max |old - current|",
        float(((batch.old_log_probs - lp.detach()) * batch.loss_mask).abs().max()),
    )
print(
    "grad norm",
    float(grads[0].norm()),
    "max abs diff",
    float((grads[0] - grads[1]).abs().max()),
    "rel",
    float((grads[0] - grads[1]).norm() / grads[0].norm()),
)
