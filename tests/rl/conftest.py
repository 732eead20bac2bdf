"""Fixtures for the RL tests: the prompts as a dataset product (the tiny model: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def train_dir(tmp_path_factory, samples) -> Path:
    from datasets import Dataset

    from vrl.data.schema import hf_features

    out = tmp_path_factory.mktemp("rl-data") / "train"
    Dataset.from_list([s.to_record() for s in samples], features=hf_features()).save_to_disk(str(out))
    return out
