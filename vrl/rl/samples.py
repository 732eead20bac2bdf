"""Rollout samples: what the policy wrote and how it was scored, as rows people read.

Every `every_n_steps` RL steps (and at the last step) rank 0 writes
`<stage>/samples/step_<k>.jsonl`, one row per response (at most `max_rows`; groups are
contiguous, so whole groups come first), with the prompt's images and any tool-produced images
as PNGs under `<stage>/samples/images/step_<k>/`; logs the same rows as the W&B table
`rl/samples` (the first image of each row as a `wandb.Image`: a W&B cell holds one); and
prints one of them, short, on the console.

A row: step, group, sample id, category, prompt (the user's text), images (paths relative to
`samples/`), response (tool output marked `[tool: ...]`), gold answer, reward, each reward
function's value, advantage, finished (ended with EOS), rethought (a forced continuation),
replayed (sampled at an earlier step), trained (in the batch the step trained on).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger

from vrl.policy.trajectory import Trajectory

log = logging.getLogger("vrl")
COLUMNS = [
    "step", "group", "sample_id", "category", "prompt", "images", "response", "answer",
    "reward", "reward_parts", "advantage", "finished", "rethought", "replayed", "trained",
]  # fmt: skip
CONSOLE_CHARS = 160  # the console sample is cut here; the file keeps it whole


class RolloutSamples(Callback):
    """Writes the RL step's sample rows (see the module docstring).

    Args:
        stage_dir: the RL stage's directory; rows go to `<stage_dir>/samples/`.
        every_n_steps: RL steps between two sample tables (0 = none).
        max_rows: responses per table.
    """

    def __init__(self, stage_dir: Path, every_n_steps: int, max_rows: int) -> None:
        self.dir = stage_dir / "samples"
        self.every_n_steps, self.max_rows = every_n_steps, max_rows

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        step = pl_module.rl_step - 1  # the step just finished (0-based, as trajectories count)
        fresh, trained = pl_module.last_rollouts
        due = self.every_n_steps and ((step + 1) % self.every_n_steps == 0 or step + 1 == pl_module.max_steps)
        if not (due and fresh and trainer.is_global_zero):
            return
        pl_module.last_rollouts = ([], [])  # a batch that only refilled a step is not written again
        rows, images = self.write(step, fresh, trained, pl_module.processor)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_table(key="rl/samples", columns=COLUMNS, data=_wandb_rows(rows, images))
        first = rows[0]
        log.info(
            "rl step %d sample %s: reward %.2f, advantage %+.2f: %s",
            step, first["sample_id"], first["reward"], first["advantage"],
            _one_line(first["response"])[:CONSOLE_CHARS],
        )  # fmt: skip

    def write(
        self, step: int, fresh: list[Trajectory], trained: list[Trajectory], processor: Any
    ) -> tuple[list[dict[str, Any]], list[list[Path]]]:
        """The step's rows and their images' paths; writes `step_<k>.jsonl` and the PNGs."""
        trained_ids = {id(t) for t in trained}
        replayed = [t for t in trained if t.step < step and all(t is not f for f in fresh)]
        chosen = (fresh + replayed)[: self.max_rows]
        image_dir = self.dir / "images" / f"step_{step}"
        image_dir.mkdir(parents=True, exist_ok=True)
        tokenizer = getattr(processor, "tokenizer", processor)
        rows, paths = [], []
        for index, t in enumerate(chosen):
            files = [image_dir / f"g{t.group_id}_prompt_{i}.png" for i in range(len(t.sample.images))]
            files += [image_dir / f"r{index}_tool_{i}.png" for i in range(len(t.tool_images))]
            for path, image in zip(files, t.images, strict=True):
                if not path.exists():
                    image.save(path)
            paths.append(files)
            rows.append(
                {
                    "step": t.step,
                    "group": t.group_id,
                    "sample_id": t.sample.id,
                    "category": t.sample.category,
                    "prompt": t.sample.question,
                    "images": [str(p.relative_to(self.dir)) for p in files],
                    "response": marked_response(t, tokenizer),
                    "answer": t.sample.answer,
                    "reward": t.reward,
                    "reward_parts": t.reward_parts,
                    "advantage": t.advantage,
                    "finished": t.finished,
                    "rethought": t.forced,
                    "replayed": t.step < step,
                    "trained": id(t) in trained_ids,
                }
            )
        with open(self.dir / f"step_{step}.jsonl", "w") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
        return rows, paths


def marked_response(trajectory: Trajectory, tokenizer: Any) -> str:
    """The response text with environment-inserted tokens (loss mask 0: tool output) shown as
    `[tool: ...]`; the plain decoded text when the policy wrote every token."""
    if all(trajectory.loss_mask):
        return trajectory.text
    parts, run, policy = [], [], True
    for token, mask in zip(trajectory.response_ids, trajectory.loss_mask, strict=True):
        if bool(mask) != policy and run:
            parts.append(_decoded(tokenizer, run, policy))
            run = []
        policy = bool(mask)
        run.append(token)
    if run:
        parts.append(_decoded(tokenizer, run, policy))
    return "".join(parts)


def _decoded(tokenizer: Any, ids: list[int], policy: bool) -> str:
    text = tokenizer.decode(ids, skip_special_tokens=False)
    return text if policy else f"[tool: {text}]"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _wandb_rows(rows: list[dict[str, Any]], images: list[list[Path]]) -> list[list[Any]]:
    import wandb

    out = []
    for row, paths in zip(rows, images, strict=True):
        image = wandb.Image(str(paths[0])) if paths else None
        cells = dict(row, images=image, reward_parts=json.dumps(row["reward_parts"]))
        out.append([cells[c] for c in COLUMNS])
    return out
