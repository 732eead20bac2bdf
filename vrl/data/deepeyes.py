"""`DeepEyesSource`: ChenShawn/DeepEyes-Datasets-47k, DeepEyes' RL data in verl's RL format.

Schema (verified against the release's reader, not a dataset card: Visual-Agent/DeepEyes @
6c5e796, `verl/utils/dataset/rl_dataset.py` reads `prompt` (chat messages, `<image>` in the user
text) and `images` (a list of `{bytes, path}`), `verl/utils/reward_score/__init__.py` dispatches
on `data_source` and passes `reward_model["ground_truth"]` and `extra_info["question"]` to
`vl_agent.py`; the tool loop keys on `env_name` (`visual_toolbox_v2`); `ability` is verl's tag.
The training script, `examples/agent/final_merged_v1v8_thinklite.sh`, reads the release's three
files: data_0.1.2_visual_toolbox_v2.parquet, data_v0.8_visual_toolbox_v2.parquet,
data_thinklite_reasoning_acc.parquet; ms-swift's DeepEyes guide registers the same three files,
renaming `prompt` to `messages`.)

The prompt is the dataset's own (DeepEyes' tool system prompt and its user instruction are in
it), so no template is applied. Each file is read on its own and the needed columns kept, so the
three files need not share every column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vrl.errors import ConfigError, MissingFileError

from .hf_source import HFSource, takes_hfsource_arguments

FILES = (
    "data_0.1.2_visual_toolbox_v2.parquet",
    "data_v0.8_visual_toolbox_v2.parquet",
    "data_thinklite_reasoning_acc.parquet",
)
COLUMNS = ("data_source", "prompt", "images", "ability", "env_name", "reward_model", "extra_info")


@takes_hfsource_arguments
class DeepEyesSource(HFSource):
    """DeepEyes-47k rows as `Sample`s (arguments: `HFSource`; `data_files` are the release's files).

    Each row becomes: prompt = its `prompt` messages, images = its `images`, answer =
    `reward_model.ground_truth`, category = `data_source`, id = `<data_source>/<extra_info.index>`;
    `metadata.question` = `extra_info.question` (the bare question DeepEyes' judge is shown) and
    `metadata.data_source`/`env_name` say which reward and tool DeepEyes gives the row.
    """

    def __init__(self, data_files: Sequence[str] = FILES, **kwargs: Any) -> None:
        kwargs.setdefault(
            "columns",
            {
                "id": "id",
                "prompt": "prompt",
                "images": "images",
                "answer": "answer",
                "category": "data_source",
            },
        )
        super().__init__(data_files=list(data_files), **kwargs)

    def _load(self) -> Any:
        import datasets

        if self.local is None:  # the hub: its files, each on its own
            files = [(f, f) for f in self.data_files]
        else:
            root = self.local if self.local.is_dir() else self.local.parent
            files = [(f, str(root / f)) for f in self.data_files]
            missing = [p for _, p in files if not Path(p).is_file()]
            if missing:
                raise MissingFileError(f"data_files: not found: {', '.join(missing)}")
        parts = []
        for name, where in files:
            try:
                part = (
                    datasets.load_dataset("parquet", data_files={"train": where}, split="train")
                    if self.local is not None
                    else datasets.load_dataset(self.path, data_files={"train": name}, split="train")
                )
            except Exception as error:  # offline hub, bad file: one line
                raise MissingFileError(
                    f"path: cannot load {name} of {self.path}: {type(error).__name__}: {str(error)[:200]}"
                ) from None
            absent = [c for c in ("prompt", "images", "reward_model") if c not in part.column_names]
            if absent:
                raise ConfigError(
                    f"data {self.path}/{name}: not in DeepEyes' format (no {', '.join(absent)}); "
                    f"columns: {', '.join(part.column_names)}"
                )
            for column in COLUMNS:
                if column not in part.column_names:
                    part = part.add_column(column, [None] * len(part))
            parts.append(part.select_columns(list(COLUMNS)))
        return datasets.concatenate_datasets(parts)

    def _column_names(self) -> list[str]:
        return [*self.dataset.column_names, "id", "answer"]

    def _prepare(self, row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        reward = row.pop("reward_model", None) or {}
        extra = row.pop("extra_info", None) or {}
        row["answer"] = reward.get("ground_truth")
        row["id"] = f"{row.get('data_source') or 'deepeyes'}/{extra.get('index', '')}"
        if extra.get("question"):
            row["question"] = extra["question"]
        return row
