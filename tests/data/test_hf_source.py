"""HFSource on the ViRL39K fixture (via conf/data/virl39k.yaml) and on local HF datasets."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from vrl.data import HFSource, Sample, Skipped
from vrl.data.records import infer_answer_type, strip_boxed
from vrl.errors import ConfigError, MissingFileError

CONF = Path(__file__).resolve().parents[2] / "vrl" / "conf" / "data"


def _virl39k(path: Path, **overrides) -> HFSource:
    cfg = OmegaConf.load(CONF / "virl39k.yaml")
    cfg.path = str(path)
    for key, value in overrides.items():
        cfg[key] = value
    return instantiate(cfg)


def test_virl39k_fixture_through_the_shipped_config(virl39k_dir):
    source = _virl39k(virl39k_dir)
    samples = list(source.iter_samples())
    assert all(isinstance(s, Sample) for s in samples) and len(samples) == 5
    by_id = {s.id: s for s in samples}
    first = by_id["fixture-0000"]
    assert first.answer == "3" and first.answer_type == "integer"
    instruction = "\n\nPlease reason step by step, and put your final answer within \\boxed{}."
    assert first.prompt == [
        {"role": "user", "content": "<image>How many circles are in the image?" + instruction}
    ]
    assert first.category == "(GradeSchool) Non-Geo Math"
    assert first.source == "hf:TIGER-Lab/ViRL39K" == source.name
    assert first.metadata == {
        "PassRate_32BTrained": 0.875,
        "PassRate_7BBase": 0.5,
        "source": "MMK12",
        "question": "<image>How many circles are in the image?",  # the bare question, for judges
    }
    assert [im.size for im in first.images] == [(28, 28)] and first.images[0].mode == "RGB"
    assert by_id["fixture-0001"].answer == "B" and by_id["fixture-0001"].answer_type == "choice"
    assert len(by_id["fixture-0002"].images) == 2  # a list of two relative paths
    assert (
        by_id["fixture-0003"].answer == r"\frac{1}{2}" and by_id["fixture-0003"].answer_type == "expression"
    )
    assert by_id["fixture-0004"].answer == "blue" and by_id["fixture-0004"].answer_type == "text"


def test_num_samples_and_shuffle(virl39k_dir):
    assert len(list(_virl39k(virl39k_dir, num_samples=2).iter_samples())) == 2
    ids = [s.id for s in _virl39k(virl39k_dir, shuffle_seed=3).iter_samples()]
    assert sorted(ids) == [f"fixture-{i:04d}" for i in range(5)]


def test_missing_image_is_skipped_not_fatal(virl39k_dir, tmp_path, png):
    (tmp_path / "images").mkdir()
    (tmp_path / "39Krelease.parquet").write_bytes((virl39k_dir / "39Krelease.parquet").read_bytes())
    (tmp_path / "images" / "Processed-fixture-0000-0.png").write_bytes(png())
    items = list(_virl39k(tmp_path).iter_samples())
    assert [type(i).__name__ for i in items] == ["Sample"] + ["Skipped"] * 4  # the 5 the 7B selection keeps
    assert {i.reason for i in items[1:]} == {"missing_image"}
    assert items[1].record_id == "fixture-0001"


def test_saved_dataset_with_image_feature_and_bad_bytes(tmp_path, png):
    features = datasets.Features(
        {
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "images": datasets.List(datasets.Image()),
            "difficulty": datasets.Value("int64"),
        }
    )
    rows = {
        "question": ["<image>What colour?", "<image>Broken", "<image>No answer"],
        "answer": ["red", "x", ""],
        "images": [
            [{"bytes": png(), "path": None}],
            [{"bytes": b"junk", "path": None}],
            [{"bytes": png(), "path": None}],
        ],
        "difficulty": [1, 2, 3],
    }
    dataset = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"train": dataset, "test": dataset.select([0])}).save_to_disk(
        str(tmp_path / "saved")
    )
    items = list(HFSource(str(tmp_path / "saved")).iter_samples())
    assert isinstance(items[0], Sample) and items[0].metadata == {"difficulty": 1} and items[0].id == "0"
    assert [i.reason for i in items[1:]] == ["unreadable_image", "missing_answer"]
    assert len(list(HFSource(str(tmp_path / "saved"), split="test").iter_samples())) == 1
    with pytest.raises(ConfigError, match="split"):
        HFSource(str(tmp_path / "saved"), split="validation")


def test_local_data_file_and_bad_columns(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"q": "2+2?", "a": 4}\n{"q": "1+1?", "a": "\\\\boxed{2}"}\n')
    source = HFSource(str(path), columns={"question": "q", "answer": "a"}, answer_type="auto")
    assert [(s.answer, s.answer_type, s.images) for s in source.iter_samples()] == [
        ("4", "integer", []),
        ("2", "integer", []),
    ]
    with pytest.raises(ConfigError, match=r"columns\.answer.*'solution'"):
        HFSource(str(path), columns={"question": "q", "answer": "solution"})
    with pytest.raises(ConfigError, match=r"columns\.answer"):
        HFSource(str(path), columns={"question": "q"})  # no "answer" column to fall back on
    with pytest.raises(ConfigError, match="answer_type"):
        HFSource(str(path), columns={"question": "q", "answer": "a"}, answer_type="number")


def test_missing_local_path_is_one_line_error(tmp_path):
    with pytest.raises(MissingFileError) as error:
        HFSource(str(tmp_path / "nope"))
    assert str(error.value).startswith("path:") and str(tmp_path / "nope") in str(error.value)


def test_strip_boxed_and_infer_answer_type():
    assert strip_boxed(r"\boxed{3}") == "3"
    assert strip_boxed(r" \boxed{\frac{1}{2}} ") == r"\frac{1}{2}"
    assert strip_boxed(r"\boxed{a}+\boxed{b}") == r"\boxed{a}+\boxed{b}"  # not one boxed expression
    assert strip_boxed("42") == "42"
    assert [infer_answer_type(a) for a in ("-3", "2.5", "C", r"\sqrt{2}", "x^2", "yes")] == [
        "integer",
        "float",
        "choice",
        "expression",
        "expression",
        "text",
    ]


def test_skipped_is_frozen_record():
    skipped = Skipped("missing_image", "q1", "images/a.png")
    with pytest.raises(AttributeError):
        skipped.reason = "x"  # type: ignore[misc]
