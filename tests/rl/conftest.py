"""Fixtures for the RL tests: a tiny Qwen2.5-VL built on the procedural corpus, and prompts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from vrl.data.procedural import ProceduralSource
from vrl.data.schema import Sample
from vrl.model import LoadedVLM, TinyQwen25VL


@pytest.fixture(scope="session")
def source() -> ProceduralSource:
    return ProceduralSource(num_samples=64, image_size=32)


@pytest.fixture(scope="session")
def samples(source) -> list[Sample]:
    return list(itertools.islice(source.iter_samples(), 64))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, source) -> Path:
    return Path(TinyQwen25VL().resolve(tmp_path_factory.mktemp("tiny"), list(source.corpus())))


@pytest.fixture()
def tiny(tiny_dir) -> LoadedVLM:
    """A fresh copy per test (training tests change the weights)."""
    return TinyQwen25VL().load(str(tiny_dir))


@pytest.fixture(scope="session")
def train_dir(tmp_path_factory, samples) -> Path:
    from datasets import Dataset

    from vrl.data.schema import hf_features

    out = tmp_path_factory.mktemp("rl-data") / "train"
    Dataset.from_list([s.to_record() for s in samples], features=hf_features()).save_to_disk(str(out))
    return out
