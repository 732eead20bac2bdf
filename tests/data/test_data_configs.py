"""conf/data/*.yaml: each lands at data.<option> in a list default, and names only constructor keys.

The header is `# @package data.<option>`: Hydra >= 1.2 (version_base="1.3") no longer expands
`_group_` in package headers, so `_group_.<option>` would land at a literal `_group_` key.
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from vrl.data import ProceduralSource

CONF_DATA = Path(__file__).resolve().parents[2] / "vrl" / "conf" / "data"
OPTIONS = sorted(p.stem for p in CONF_DATA.glob("*.yaml"))


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    shutil.copytree(CONF_DATA, tmp_path / "data")
    (tmp_path / "config.yaml").write_text("defaults:\n  - data: [procedural, jsonl]\n  - _self_\n")
    return tmp_path


def test_options_exist():
    assert {"procedural", "virl39k", "hf", "jsonl", "parquet"} <= set(OPTIONS)


def test_list_default_puts_each_source_under_its_own_key(config_dir):
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name="config")
        assert set(cfg.data) == {"procedural", "jsonl"}
        assert cfg.data.procedural._target_ == "vrl.data.ProceduralSource"
        assert cfg.data.jsonl._target_ == "vrl.data.JsonlSource"
        assert isinstance(instantiate(cfg.data.procedural), ProceduralSource)
        cfg = compose(
            config_name="config", overrides=["data=[virl39k,procedural]", "data.procedural.weight=2"]
        )
        assert set(cfg.data) == {"virl39k", "procedural"} and cfg.data.procedural.weight == 2


@pytest.mark.parametrize("option", OPTIONS)
def test_option_keys_are_constructor_arguments(option):
    text = (CONF_DATA / f"{option}.yaml").read_text()
    assert text.startswith(f"# @package data.{option}\n")
    cfg = OmegaConf.load(CONF_DATA / f"{option}.yaml")
    params = inspect.signature(get_class(cfg._target_)).parameters
    assert set(cfg) - {"_target_"} <= set(params)
    for line in text.splitlines()[1:]:  # every top-level key is commented
        if line and not line.startswith((" ", "#", "_target_")):
            assert "#" in line, line
