"""Data: the sample schema, sources that produce samples, mixing and materialising them.

Sources (each: `name`, `weight`, `iter_samples()` -> `Sample | Skipped`):
    ProceduralSource  seeded synthetic visual problems (vrl.data.procedural)
    HFSource          any Hugging Face dataset, hub id or local path (e.g. ViRL39K)
    JsonlSource       a local .jsonl file with image paths relative to it
    ParquetSource     a local .parquet file with image paths or bytes
`mix` interleaves sources by weight; `materialize` writes them to a `datasets.Dataset`.
"""

from .file_source import JsonlSource, ParquetSource
from .hf_source import HFSource
from .materialize import MaterializeReport, load_samples, materialize
from .mixture import DataSource, mix
from .procedural import HOLDOUT_SEED_START, TASK_FAMILIES, ProceduralSource, chance_accuracy, generate
from .schema import ANSWER_TYPES, IMAGE_PLACEHOLDER, Sample, Skipped, chat_messages, hf_features

__all__ = [
    "ANSWER_TYPES",
    "HOLDOUT_SEED_START",
    "IMAGE_PLACEHOLDER",
    "TASK_FAMILIES",
    "DataSource",
    "HFSource",
    "JsonlSource",
    "MaterializeReport",
    "ParquetSource",
    "ProceduralSource",
    "Sample",
    "Skipped",
    "chance_accuracy",
    "chat_messages",
    "generate",
    "hf_features",
    "load_samples",
    "materialize",
    "mix",
]
