"""Data: the sample schema, sources that produce samples, mixing and materialising them.

Sources (each: `name`, `weight`, `iter_samples()` -> `Sample | Skipped`):
    ProceduralSource  seeded synthetic visual problems (vrl.data.procedural)
    HFSource          any Hugging Face dataset, hub id or local path (prompt template, image checks)
    ViRL39KSource     TIGER-Lab/ViRL39K with VL-Rethinker's PassRate selection
    VInteractionSource  We-Math/V-Interaction-400K (RL problems, or SFT on its code solutions)
    DeepEyesSource    ChenShawn/DeepEyes-Datasets-47k (verl RL format)
    JsonlSource       a local .jsonl file with image paths relative to it
    ParquetSource     a local .parquet file with image paths or bytes
`mix` interleaves sources by weight; `materialize` writes them to a `datasets.Dataset`.
"""

from .deepeyes import DeepEyesSource
from .file_source import JsonlSource, ParquetSource
from .hf_source import HFSource
from .materialize import MaterializeReport, load_samples, materialize
from .mixture import DataSource, mix
from .procedural import HOLDOUT_SEED_START, TASK_FAMILIES, ProceduralSource, chance_accuracy, generate
from .schema import ANSWER_TYPES, IMAGE_PLACEHOLDER, Sample, Skipped, chat_messages, hf_features
from .vinteraction import VInteractionSource
from .virl39k import ViRL39KSource

__all__ = [
    "ANSWER_TYPES",
    "HOLDOUT_SEED_START",
    "IMAGE_PLACEHOLDER",
    "TASK_FAMILIES",
    "DataSource",
    "DeepEyesSource",
    "HFSource",
    "JsonlSource",
    "MaterializeReport",
    "ParquetSource",
    "ProceduralSource",
    "Sample",
    "Skipped",
    "VInteractionSource",
    "ViRL39KSource",
    "chance_accuracy",
    "chat_messages",
    "generate",
    "hf_features",
    "load_samples",
    "materialize",
    "mix",
]
