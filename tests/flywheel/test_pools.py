"""Seed pools from the built-in files, a jsonl file or an HF dataset dir; bad files give one-line errors."""

from __future__ import annotations

import json

import pytest

from vrl.errors import ConfigError, MissingFileError
from vrl.flywheel.pools import load_pool, read_pool, write_pool
from vrl.flywheel.protocol import KnowledgePoint
from vrl.flywheel.templates import TEMPLATES


def test_builtin_seeds_cover_every_template_and_domain():
    kps = load_pool(None, "knowledge_points")
    assert {k.template for k in kps} == set(TEMPLATES)
    assert all(k.level == 0 and k.round == 0 for k in kps)
    tools = load_pool(None, "tools")
    assert all(f"def {t.name}(" in t.code for t in tools)


def test_roundtrip_through_jsonl_and_an_hf_dataset_dir(tmp_path):
    from datasets import Dataset

    kps = load_pool(None, "knowledge_points")
    write_pool(kps, tmp_path / "kp.jsonl")
    assert read_pool(tmp_path / "kp.jsonl", "knowledge_points") == kps
    assert load_pool(str(tmp_path / "kp.jsonl"), "knowledge_points") == kps
    rows = [
        {**k.to_dict(), "params": json.dumps(k.params)} for k in kps
    ]  # nested dicts as JSON, as on the hub
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    assert load_pool(str(tmp_path / "hf"), "knowledge_points") == kps


def test_bad_seed_files_name_the_problem(tmp_path):
    with pytest.raises(MissingFileError, match="no file at"):
        load_pool(str(tmp_path / "missing.jsonl"), "knowledge_points")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "description": "d", "domain": "x"}\nnot json\n')
    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        load_pool(str(bad), "knowledge_points")
    bad.write_text('{"id": "a", "domain": "x"}\n')
    with pytest.raises(ConfigError, match="entry 0 lacks description"):
        load_pool(str(bad), "knowledge_points")
    bad.write_text("\n".join(json.dumps(KnowledgePoint("a", f"d{i}", "x").to_dict()) for i in range(2)))
    with pytest.raises(ConfigError, match="duplicate ids"):
        load_pool(str(bad), "knowledge_points")
