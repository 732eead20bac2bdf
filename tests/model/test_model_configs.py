"""Every conf/model option: `_target_` is a public vrl.model class and every key is a constructor
argument; the shipped options instantiate (instantiation builds nothing and loads nothing)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from vrl.model import VLMSpec

CONF = Path(__file__).resolve().parents[2] / "vrl" / "conf" / "model"
OPTIONS = sorted(CONF.glob("*.yaml"))


def test_the_three_options_exist():
    assert {p.stem for p in OPTIONS} >= {"tiny_qwen2_5_vl", "qwen2_5_vl_7b", "qwen2_5_vl_72b"}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda p: p.stem)
def test_keys_match_the_constructor(option):
    node = OmegaConf.load(option)
    module, _, name = node["_target_"].rpartition(".")
    assert module == "vrl.model"
    cls = getattr(importlib.import_module(module), name)
    params = inspect.signature(cls.__init__).parameters
    keys = set(node) - {"_target_"}
    assert keys <= set(params), f"unknown keys {keys - set(params)}"
    required = {n for n, p in params.items() if n != "self" and p.default is inspect.Parameter.empty}
    assert required <= keys


@pytest.mark.parametrize("option", OPTIONS, ids=lambda p: p.stem)
def test_instantiates_to_a_vlm_spec(option):
    cfg = OmegaConf.create({"seed": 0, "model": OmegaConf.load(option)})
    spec = instantiate(cfg.model)
    assert isinstance(spec, VLMSpec) and spec.name
