"""Session fixtures shared by every test directory: the tiny model factory, prompts, a sandbox,
and one real smoke run."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from vrl_testing import REPO, run_vrl

from vrl.data.procedural import ProceduralSource
from vrl.data.schema import Sample
from vrl.model import LoadedVLM, TinyQwen25VL


class TinyModels:
    """Tiny Qwen2.5-VLs, one built per corpus per session (~0.3 s each) and loaded fresh on demand.

    `dir(corpus)` is the model directory whose tokenizer learnt `corpus`; `load(corpus)` a fresh
    copy of that model (training tests change the weights); `processor(corpus)` its processor.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[tuple[str, ...], Path] = {}

    def dir(self, corpus: Sequence[str]) -> Path:
        key = tuple(corpus)
        if key not in self._dirs:
            work = self.root / f"tiny-{len(self._dirs)}"
            self._dirs[key] = Path(TinyQwen25VL().resolve(work, list(key)))
        return self._dirs[key]

    def load(self, corpus: Sequence[str]) -> LoadedVLM:
        return TinyQwen25VL().load(str(self.dir(corpus)))

    def processor(self, corpus: Sequence[str]):
        return self.load(corpus).processor


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    return TinyModels(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def source() -> ProceduralSource:
    """The procedural generator at 32 px, 64 problems (every family)."""
    return ProceduralSource(num_samples=64, image_size=32)


@pytest.fixture(scope="session")
def samples(source) -> list[Sample]:
    return list(itertools.islice(source.iter_samples(), 64))


@pytest.fixture(scope="session")
def tiny_dir(tiny_models, source) -> Path:
    """The tiny model whose tokenizer learnt the procedural corpus."""
    return tiny_models.dir(list(source.corpus()))


@pytest.fixture()
def tiny(tiny_models, source) -> LoadedVLM:
    """A fresh copy of the procedural tiny model per test (training tests change the weights)."""
    return tiny_models.load(list(source.corpus()))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One real `python -m vrl debug=smoke` run shared by the end-to-end tests."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    result = run_vrl(["debug=smoke", f"hydra.run.dir={run_dir}"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    return run_dir, result


@pytest.fixture(scope="session")
def sandbox():
    """One real sandbox (the strongest backend here, one-shot calls) for tests that just run code."""
    from vrl.sandbox import make_sandbox

    box = make_sandbox(backend="auto", workers=2)
    yield box
    box.close()


# Lightning's DDP/FSDP strategies export LOCAL_RANK, NODE_RANK, MASTER_ADDR, MASTER_PORT into the
# process that fits (tests/rl/test_rl_fsdp2_step.py does, in this one). Left there, they reach
# every later `python -m vrl` a test starts, as they reached CI's resume tests (the entry point
# now ignores an inherited LOCAL_RANK: tests/test_cli.py). Each test gets them back as they were.
DISTRIBUTED_ENV = (
    "LOCAL_RANK",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "NODE_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)


@pytest.fixture(autouse=True)
def distributed_env_restored():
    before = {key: os.environ.get(key) for key in DISTRIBUTED_ENV}
    yield
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
