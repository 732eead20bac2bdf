"""Step 9 of the RL step (`vrl.rl.module`): the PPO update (epochs over mini-batches,
micro-batches accumulated, gradients summed over ranks, clip, one optimizer step per mini-batch).

`PolicyUpdate` is a mixin of `RLModule` (a LightningModule with manual optimization): besides
Lightning's `optimizers`, `manual_backward`, `clip_gradients` and `trainer`, it reads the
module's `model`, `processor`, `algorithm`, `settings`, `micro_batch_size`,
`temperature` and its step timer `_timed`, all set by `RLModule.__init__`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import torch
from lightning.pytorch.plugins.precision import Precision
from torch.distributed.fsdp import FSDPModule

from vrl.algorithm import nll_selection, policy_objective
from vrl.distributed import gather_objects, world
from vrl.policy.batch import right_pad
from vrl.policy.images import ImageCache
from vrl.policy.log_probs import batch_and_logits, token_log_probs
from vrl.policy.mode import set_training
from vrl.policy.trajectory import Trajectory
from vrl.rl.distributed import all_reduce_gradients, disable_ddp_gradient_sync, micro_batches, summed


class PolicyUpdate:
    """Step 9 of `RLModule.training_step` (see the module docstring for the attributes used)."""

    def _update(
        self, selected: list[Trajectory], ref_log_probs: list[list[float]] | None, images: ImageCache
    ) -> dict[str, float]:
        """`ppo_epochs` passes; one optimizer step per mini-batch. Returns mean `train/...` metrics."""
        optimizer = self.optimizers()
        mini_size = self.algorithm.mini_batch_size or len(selected)
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        updates = 0
        here = world()
        sharded = isinstance(self.model, FSDPModule) and here.size > 1
        if here.size > 1:
            # DDP would average each backward's gradients; they are summed once per optimizer
            # step below instead. Set on every update: Lightning re-arms DDP's flag after a step.
            disable_ddp_gradient_sync(self.trainer.strategy)
        if not self.model.training:
            set_training(self.model, True)
        for _ in range(self.algorithm.ppo_epochs):
            for start in range(0, len(selected), mini_size):
                mini = list(range(start, min(start + mini_size, len(selected))))
                trajectories = [selected[i] for i in mini]
                nll_rows = self._nll_rows(trajectories)
                totals = {
                    "global_token_count": sum(sum(t.loss_mask) for t in trajectories),
                    "global_seq_count": len(trajectories),
                    "global_nll_token_count": sum(
                        sum(t.loss_mask) for t, keep in zip(trajectories, nll_rows.tolist()) if keep
                    ),
                }
                # This rank's share of the mini-batch; the loss is divided by the global totals.
                # Under FSDP2 every rank runs as many micro-batches as rank 0 (None: padding).
                for bounds in micro_batches(len(mini), here.rank, here.size, self.micro_batch_size, sharded):
                    lo, hi = bounds or (0, 1)  # padding: the mini-batch's first row, weight 0
                    micro = [selected[i] for i in mini[lo:hi]]
                    refs = [ref_log_probs[i] for i in mini[lo:hi]] if ref_log_probs is not None else None
                    if bounds is None:  # a copy: the padding forward must not fill its old log-probs
                        micro = [dataclasses.replace(micro[0])]
                    loss, metrics = self._micro_batch_loss(micro, refs, nll_rows[lo:hi], totals, images)
                    self.manual_backward(loss if bounds else loss * 0.0)
                    if bounds is None:
                        continue
                    for key, value in metrics.items():
                        sums[key] += float(value)
                        counts[key] += 1
                with self._timed("grad_sync"):
                    all_reduce_gradients(self.model.parameters())  # sum over ranks: the global gradient
                sums["grad_norm"] += self._clip_gradients_by_norm(optimizer)
                # Every rank adds the same global norm once; sums and counts are summed over ranks below.
                counts["grad_norm"] += 1
                optimizer.step()
                optimizer.zero_grad()
                updates += 1
        if here.size > 1:  # every rank's micro-batches: sums and counts over the ranks
            parts = gather_objects((dict(sums), dict(counts)))
            sums, counts = summed(p[0] for p in parts), summed(p[1] for p in parts)
        out = {f"train/{key}": sums[key] / counts[key] for key in sums}
        # The loss terms are per micro-batch shares of the mini-batch loss: report their sum per update.
        for key in ("loss", "pg_loss", "kl", "entropy", "aux_nll"):
            if f"train/{key}" in out:
                out[f"train/{key}"] = sums[key] / updates
        out["train/updates"] = float(updates)
        out["train/batch_size"] = float(len(selected))
        out["train/lr"] = float(optimizer.param_groups[0]["lr"])
        return out

    def _micro_batch_loss(
        self,
        trajectories: list[Trajectory],
        ref_log_probs: list[list[float]] | None,
        nll_rows: torch.Tensor,
        totals: dict[str, int],
        images: ImageCache,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # On-policy responses without old log-probs (step 5 skipped them) take this forward's,
        # detached, and keep them: SSR may replay them at a later step as off-policy samples.
        fresh = [t.old_log_probs is None for t in trajectories]
        for trajectory, missing in zip(trajectories, fresh):
            if missing:
                trajectory.old_log_probs = [0.0] * len(trajectory.response_ids)
        batch, logits = batch_and_logits(self.model, self.processor, trajectories, images)
        log_probs, entropy = token_log_probs(
            logits,
            batch.response_ids,
            self.temperature,
            with_entropy=True,
            entropy_grad=self.algorithm.entropy_coef != 0,  # else only logged
        )
        old_log_probs = batch.old_log_probs.to(log_probs.device)
        if any(fresh):
            rows = torch.tensor(fresh, device=log_probs.device)
            old_log_probs[rows] = log_probs.detach()[rows]
            for row, (trajectory, missing) in enumerate(zip(trajectories, fresh)):
                if missing:
                    trajectory.old_log_probs = old_log_probs[row, : len(trajectory.response_ids)].tolist()
        device = log_probs.device
        width = log_probs.shape[1]
        ref = right_pad(ref_log_probs, width).to(device) if ref_log_probs is not None else None
        return policy_objective(
            self.algorithm,
            log_probs,
            old_log_probs,
            batch.advantages.to(device),
            batch.loss_mask.to(device),
            ref_log_probs=ref,
            entropy=entropy,
            nll_rows=nll_rows.to(device) if self.algorithm.aux_nll_coef > 0 else None,
            **totals,
        )

    def _clip_gradients_by_norm(self, optimizer: Any) -> float:
        """Clip the global gradient to `gradient_clip_val` (0: no clipping); returns its norm before
        clipping. Where Lightning's precision plugin would clip with plain `clip_grad_norm_` over
        the optimizer's parameters (32-true, bf16-true, FSDP2's DTensors), the one norm serves
        both the log and the clip; otherwise the plugin clips (AMP's checks, FSDP1's sharded
        norm, DeepSpeed), after the norm is taken for the log."""
        max_norm = self.settings.gradient_clip_val
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = _total_norm([p.grad for p in params])
        if max_norm and _clips_plainly(self.trainer.precision_plugin):
            torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
        elif max_norm:
            self.clip_gradients(optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm")
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)

    def _nll_rows(self, trajectories: list[Trajectory]) -> torch.Tensor:
        advantages = torch.tensor([t.advantage or 0.0 for t in trajectories])
        if self.algorithm.aux_nll_coef <= 0:
            return torch.zeros(len(trajectories), dtype=torch.bool)
        return nll_selection([t.text for t in trajectories], advantages, self.algorithm.aux_nll_cues)


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all `grads` together (FSDP2's DTensor shards: a DTensor of the whole, not
    this rank's shard), by PyTorch's foreach norm: one kernel per device and dtype, not one norm
    per tensor. 0-dim tensor; 0 for no gradients."""
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


def _clips_plainly(precision: Any) -> bool:
    """Whether Lightning's `precision` plugin clips by norm exactly as `clip_grad_norm_` over the
    optimizer's parameters (its base `Precision`'s methods, not overridden by AMP's, FSDP1's or
    DeepSpeed's plugin)."""
    kind = type(precision)
    return (
        kind.clip_gradients is Precision.clip_gradients
        and kind.clip_grad_by_norm is Precision.clip_grad_by_norm
        and kind.main_params is Precision.main_params
    )
