"""One rank of the RL multi-process tests (tests/rl/test_rl_ddp_on_cpu.py,
tests/rl/test_rl_fsdp2_on_cpu.py), run as its own process.

    [VRL_TEST_STRATEGY=fsdp2] python ddp_worker.py MODE MODEL_DIR TRAIN_DIR OUT_DIR [STEPS [CKPT]]

The test starts it once per rank with LOCAL_RANK/RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set
(as `vrl.distributed.spawn_local_ranks` does), or alone for the one-process reference. Ranks run
DDP, or FSDP2 (`vrl.trainer.FSDP2Strategy`) with VRL_TEST_STRATEGY=fsdp2; gradients and weights
written are the full (gathered) ones either way. Modes:
- grad: one update of `RLModule._update` on a fixed batch of rollouts (the same on every rank:
  sampled with a fixed seed before training), gradient clipping off; writes every optimizer
  step's summed gradient (`grads_rank<r>.pt`) and the weights after the update
  (`weights_rank<r>.pt`).
- fit: STEPS real RL steps (hf rollouts, GRPO + SSR); writes per step the prompt ids this rank
  rolled out, a hash of its weights and its torch seed (`fit_rank<r>.json`), and the checkpoint
  `OUT_DIR/checkpoints/last.ckpt`; resumes from CKPT when given.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from vrl_testing import brevity, component, hf_engine, inline_reward

from vrl.distributed import init_process_group, world
from vrl.model import TinyQwen25VL
from vrl.policy.images import ImageCache
from vrl.rethink import NoRethink
from vrl.rl.checkpoint import RLCheckpoint
from vrl.rl.data import PromptStream, RLDataModule
from vrl.rl.module import RLModule
from vrl.rl.settings import RLSettings
from vrl.rollout.weight_stream import is_sharded
from vrl.trainer import FSDP2Strategy

PROMPTS, GROUP = 4, 4
STRATEGY = os.environ.get("VRL_TEST_STRATEGY", "ddp")  # ddp | fsdp2 (several ranks)
WRAP = [
    "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl.Qwen2_5_VLDecoderLayer",
    "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl.Qwen2_5_VLVisionBlock",
]


def module(model_dir: str, replay: str, mini_batch_size: int | None, clip: float, steps: int) -> RLModule:
    loaded = TinyQwen25VL().load(model_dir)
    reward = inline_reward()
    reward.functions["brevity"], reward.weights["brevity"] = brevity, 1.0
    loaded.model.train()
    return RLModule(
        loaded.model,
        loaded.processor,
        hf_engine(max_new_tokens=8, temperature=1.0, top_p=1.0),
        reward,
        component("algorithm", "grpo", mini_batch_size=mini_batch_size),
        component("replay", replay),
        NoRethink(),
        RLSettings(
            prompts_per_step=PROMPTS,
            group_size=GROUP,
            max_steps=steps,
            lr=1e-2,
            micro_batch_size=3,
            gradient_clip_val=clip,
        ),
    )


def trainer(out: Path, callbacks: list, devices: int) -> L.Trainer:
    strategy = "ddp" if devices > 1 else "auto"
    if devices > 1 and STRATEGY == "fsdp2":
        strategy = FSDP2Strategy(WRAP, devices)
    return L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy=strategy,
        max_steps=-1,
        max_epochs=-1,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(out),
    )


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a (possibly FSDP2-sharded) parameter or gradient: a collective for a
    DTensor, so every rank calls it in the same order."""
    return tensor.full_tensor() if is_sharded(tensor) else tensor


def weights_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(full(p.detach()).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def flat_weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([full(p.detach()).flatten() for p in model.parameters() if p.requires_grad])


class FixedBatch(RLModule):
    """Trains one step on `fixed` trajectories instead of rolling out; records the gradients."""

    def __init__(self, *args, fixed, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fixed = fixed
        self.grads: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        images = ImageCache()
        ref = self._reference_log_probs(self.fixed, images) if self.algorithm.kl_in_loss else None
        if self._needs_old_log_probs_now:
            self._fill_old_log_probs(self.fixed, images)
        self.metrics = self._update(self.fixed, ref, images)
        self.weights = flat_weights(self.model)
        self.trainer.should_stop = True

    def on_before_optimizer_step(self, optimizer) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.grads.append(torch.cat([full(p.grad.detach()).flatten() for p in params]).clone())


def record_local_gradients() -> list[torch.Tensor]:
    """Each optimizer step's gradient of this rank alone (before the ranks' sum)."""
    import vrl.rl.update as rl_update

    local: list[torch.Tensor] = []
    reduce = rl_update.all_reduce_gradients

    def recording(parameters):
        params = [p for p in parameters if p.requires_grad]
        local.append(
            torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel()) for p in params])
        )
        reduce(params)

    rl_update.all_reduce_gradients = recording
    return local


def replay_hash(store: list) -> str:
    """What a replay store holds, as one digest: each kept trajectory's identity and numbers."""
    rows = [(t.group_id, t.sample.id, t.response_ids, t.reward, t.advantage, t.step) for t in store]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def fixed_rollouts(base: RLModule, train_dir: str) -> list:
    """The step-0 batch sampled and scored with seed 1234 on one process: identical on every rank."""
    from datasets import load_from_disk

    samples = PromptStream(load_from_disk(train_dir), PROMPTS, seed=0).batch_at(0)
    torch.manual_seed(1234)
    trajectories, _, _ = base._score_share(samples, first_group_id=0, images=ImageCache())
    return trajectories


def main() -> None:
    mode, model_dir, train_dir, out = sys.argv[1:5]
    steps = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    ckpt = sys.argv[6] if len(sys.argv) > 6 else None
    out_dir = Path(out)
    if os.environ.get("VRL_TEST_STOCK_FORWARD"):
        # FSDP2's comparison: its update runs the stock forward per row (prompts are shared only
        # where the model is not sharded), so the reference and the fixed rollouts' old
        # log-probs take it too, and only FSDP2's rounding differs.
        import vrl.policy.log_probs

        vrl.policy.log_probs.shared_prompt_logits = lambda *args, **kwargs: None
    here = world()
    init_process_group("cpu")
    L.seed_everything(0, verbose=False)
    rank = here.rank
    if mode == "grad":
        mini = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] != "0" else None
        probe = module(model_dir, "none", mini, clip=0.0, steps=1)
        fixed = fixed_rollouts(probe, train_dir)
        local = record_local_gradients() if STRATEGY == "ddp" else []
        if here.size == 1:
            torch.save(flat_weights(probe.model), out_dir / "initial_weights.pt")
        m = FixedBatch(
            probe.model,
            probe.processor,
            probe.engine,
            probe.reward,
            probe.algorithm,
            probe.replay,
            probe.rethink,
            probe.settings,
            fixed=fixed,
        )
        trainer(out_dir, [], here.size).fit(m, datamodule=RLDataModule(Path(train_dir), PROMPTS, seed=0))
        torch.save(torch.stack(m.grads), out_dir / f"grads_rank{rank}.pt")
        torch.save(m.weights, out_dir / f"weights_rank{rank}.pt")
        (out_dir / f"metrics_rank{rank}.json").write_text(json.dumps(m.metrics))
        if STRATEGY == "ddp":  # under FSDP2 the backward itself reduces: no local gradient exists
            torch.save(torch.stack(local), out_dir / f"local_grads_rank{rank}.pt")
        return

    m = module(model_dir, "ssr", None, clip=1.0, steps=steps)
    record = {"prompts": [], "weights": [], "seed": [], "replay": [], "replay_size": []}
    rollout = m.engine.rollout

    def recording_rollout(model, processor, samples, *args, **kwargs):
        record["prompts"].append([s.id for s in samples])
        return rollout(model, processor, samples, *args, **kwargs)

    m.engine.rollout = recording_rollout

    class Record(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            record["seed"].append(torch.initial_seed())

        def on_train_batch_end(self, trainer, pl_module, *args):
            record["weights"].append(weights_hash(pl_module.model))
            store = pl_module.replay.state_dict()["store"]  # the trajectories kept for replay
            record["replay"].append(replay_hash(store))
            record["replay_size"].append(len(store))

    callbacks = [RLCheckpoint(out_dir / "checkpoints", every_n_steps=1), Record()]
    trainer(out_dir, callbacks, here.size).fit(
        m, datamodule=RLDataModule(Path(train_dir), PROMPTS, seed=0), ckpt_path=ckpt, weights_only=False
    )
    record["rl_step"], record["data_position"] = m.rl_step, m.data_position
    (out_dir / f"fit_rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
