"""`RLSettings`: every setting of an RL stage, each with its one default.

Built from `vrl/conf/stage/rl.yaml` (its `_target_`), handed whole to `vrl.stages.RLStage` and to
`vrl.rl.module.RLModule`. The defaults suit a 7B policy on GPUs (VL-Rethinker's scale); the
embedded CPU default overrides what its tiny model needs in `conf/scale/cpu_tiny.yaml`.
Sampling is not here: the `rollout` group owns it (`rollout.sampling`, `vrl.policy.sampling`),
and PPO epochs and mini-batches belong to the `algorithm`.
"""

from __future__ import annotations

from dataclasses import dataclass

from vrl.settings import finite, require, require_positive


@dataclass(frozen=True)
class RLSettings:
    """One RL stage.

    Attributes:
        dataset: product key of the prompt set (e.g. "train_data").
        prompts_per_step: prompts per RL step, each answered `group_size` times (VL-Rethinker
            7B: 128).
        group_size: responses per prompt, n (>= 2: group advantages compare them).
        max_steps: RL steps, one rollout batch each.
        lr: constant AdamW learning rate (VL-Rethinker 7B: 1e-6).
        weight_decay: AdamW weight decay.
        gradient_clip_val: max global gradient norm (0 = no clipping).
        micro_batch_size: responses per forward/backward pass (and per log-prob pass).
        save_every_n_steps: checkpoint (for resume) every N RL steps, and at the end.
        log_every_n_steps: metrics to the loggers every N RL steps.
        samples_every_n_steps: a table of rollout samples (`<stage>/samples/`, W&B `rl/samples`,
            one on the console) every N RL steps and at the last; 0 = none.
        samples_max_rows: responses per sample table.
        max_staleness: how many updates older than the trained policy a batch's sampling
            weights may be. 0 = the synchronous loop (rollout, then update); 1 = a rollout worker
            process samples step k + 1 while the trainer updates on step k, and the PPO ratio is
            taken against the worker's behaviour log-probs (`vrl.rl.overlap`).
        num_workers: prompt loader worker processes. With >= 1 the next steps' prompt batches
            are read and (for the hf and fast engines, one trainer process) encoded by the
            processor there while the trainer works on this one, as verl's loader workers do;
            0 = in the trainer, at the start of each step. One worker takes the encoding out of
            the default's step (experiments/rl_speed: the step's share outside the model 22 ->
            15 %) at no cost to its wall time on 2 cores.
    """

    dataset: str = "train_data"
    prompts_per_step: int = 128
    group_size: int = 8
    max_steps: int = 300
    lr: float = 1e-6
    weight_decay: float = 0.0
    gradient_clip_val: float = 1.0
    micro_batch_size: int = 8
    save_every_n_steps: int = 10
    log_every_n_steps: int = 1
    samples_every_n_steps: int = 10
    samples_max_rows: int = 32
    max_staleness: int = 0
    num_workers: int = 1

    def __post_init__(self) -> None:
        require(bool(self.dataset), "dataset", self.dataset, "a product key, e.g. train_data")
        require(self.prompts_per_step >= 1, "prompts_per_step", self.prompts_per_step, ">= 1")
        require(
            self.group_size >= 2, "group_size", self.group_size, ">= 2 (group advantages compare responses)"
        )
        require(
            self.max_steps >= 1, "max_steps", self.max_steps, ">= 1 (leave rl out of `stages` to skip RL)"
        )
        require_positive(self.lr, "lr")
        require(
            finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0"
        )
        require(
            finite(self.gradient_clip_val) and self.gradient_clip_val >= 0,
            "gradient_clip_val",
            self.gradient_clip_val,
            ">= 0 (0 = off)",
        )
        require(self.micro_batch_size >= 1, "micro_batch_size", self.micro_batch_size, ">= 1")
        require(self.num_workers >= 0, "num_workers", self.num_workers, ">= 0 (0 = in the trainer)")
        require(self.save_every_n_steps >= 1, "save_every_n_steps", self.save_every_n_steps, ">= 1")
        require(self.log_every_n_steps >= 1, "log_every_n_steps", self.log_every_n_steps, ">= 1")
        require(
            self.samples_every_n_steps >= 0,
            "samples_every_n_steps",
            self.samples_every_n_steps,
            ">= 0 (0 = none)",
        )
        require(self.samples_max_rows >= 1, "samples_max_rows", self.samples_max_rows, ">= 1")
        require(
            self.max_staleness in (0, 1) and not isinstance(self.max_staleness, bool),
            "max_staleness",
            self.max_staleness,
            "0 (synchronous) or 1 (one-step off-policy; deeper staleness is not supported)",
        )
