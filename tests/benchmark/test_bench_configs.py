"""Every conf/benchmark option: lands at `benchmark.<option>` when several are listed, names
only constructor keys, instantiates, and loads its fixture when pointed at it."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate

REPO = Path(__file__).resolve().parents[2]
F = REPO / "tests" / "fixtures" / "benchmarks"
GENERATED = {"procedural_holdout", "perception_holdout", "zoom_count_holdout"}  # vrl's own, no files to load
MINE = sorted(p.stem for p in (REPO / "vrl" / "conf" / "benchmark").glob("*.yaml") if p.stem not in GENERATED)
FIXTURE = {  # option -> (fixture path, extra overrides)
    "mathvista": ("mathvista", []),
    "mathverse": ("mathverse", []),
    "mathvision": ("mathvision", []),
    "mathvision_testmini": ("mathvision", []),
    "mmmu": ("mmmu", ["subjects=[Accounting,Geography]"]),
    "mmmu_pro_standard": ("mmmu_pro", []),
    "mmmu_pro_vision": ("mmmu_pro", []),
    "emma": ("emma", ["subjects=[Math,Physics]"]),
    "wemath": ("wemath", []),
    "dynamath": ("dynamath", ["split=[sample_variant1,sample_variant2]"]),
    "logicvista": ("logicvista/data", []),
    "chartqa": ("chartqa", []),
    "vtbench_perception": ("vtbench", []),
    "vtbench_instruction": ("vtbench", []),
    "vtbench_reasoning": ("vtbench", []),
}


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    """The benchmark group composed on its own (other groups are not this test's business)."""
    root = tmp_path_factory.mktemp("conf")
    shutil.copytree(REPO / "vrl" / "conf" / "benchmark", root / "benchmark")
    (root / "config.yaml").write_text("defaults:\n  - benchmark: [mathvista]\n  - _self_\n")
    overrides = [f"benchmark=[{','.join(MINE)}]"]
    for option in MINE:
        path, extra = FIXTURE[option]
        overrides += [f"benchmark.{option}.path={F / path}"] + [f"benchmark.{option}.{e}" for e in extra]
    with initialize_config_dir(config_dir=str(root), version_base="1.3"):
        return compose("config", overrides=overrides)


def test_every_option_has_a_fixture():
    assert set(MINE) == set(FIXTURE)


@pytest.mark.parametrize("option", MINE)
def test_option_file(option):
    text = (REPO / "vrl" / "conf" / "benchmark" / f"{option}.yaml").read_text()
    assert text.splitlines()[0] == f"# @package benchmark.{option}"
    node = yaml.safe_load(text)
    params = inspect.signature(get_class(node["_target_"])).parameters
    assert set(node) - {"_target_"} <= set(params), set(node) - set(params)
    assert {"path", "reference", "limit", "judge"} <= set(node)
    assert "generation" not in node and "sampling" not in node  # its length is the class's default
    for line in text.splitlines():  # a comment on each key
        if line and not line.startswith((" ", "#", "_target_")) and ":" in line:
            assert "#" in line, line


@pytest.mark.parametrize("option", MINE)
def test_option_loads_its_fixture(composed, option):
    bench = instantiate(composed.benchmark[option])
    assert bench.name == option
    rows = list(bench.load())
    assert rows and all(hasattr(r, "prompt") for r in rows)
    first = rows[0]
    item = bench.score("\\boxed{" + first.answer + "}", first)
    assert isinstance(item.correct, bool) and item.judge == "rule"
    metrics = bench.metrics([(first, item)])
    assert 0.0 <= metrics["accuracy"] <= 100.0
    for model, values in bench.reference.items():
        assert isinstance(model, str) and all(isinstance(v, float) for v in values.values())
