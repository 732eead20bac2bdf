"""Loaders: every benchmark reads its real-schema fixture (hub layout) into vrl Samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrl.benchmark import (
    EMMA,
    MMMU,
    ChartQA,
    DynaMath,
    LogicVista,
    MathVerse,
    MathVision,
    MathVista,
    VTBench,
    WeMath,
)
from vrl.benchmark.base import load_rows
from vrl.data.schema import IMAGE_PLACEHOLDER, Sample, Skipped, chat_messages
from vrl.errors import MissingFileError

F = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"


def load(bench) -> list[Sample]:
    rows = list(bench.load())
    assert all(isinstance(r, Sample) for r in rows), [r for r in rows if isinstance(r, Skipped)]
    for s in rows:  # one placeholder per image, and the chat format builds
        placeholders = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in s.prompt)
        assert placeholders == len(s.images) > 0, s.id
        assert sum(p["type"] == "image" for m in chat_messages(s) for p in m["content"]) == len(s.images)
        s.to_record()  # metadata is JSON-serialisable
    assert len({s.id for s in rows}) == len(rows)
    return rows


def test_mathvista_parquet_and_release_json():
    rows = load(MathVista(path=str(F / "mathvista")))
    assert len(rows) == 6
    mc = rows[0]
    assert (mc.answer, mc.answer_type, mc.metadata["answer_text"]) == ("C", "choice", "Europe")
    assert "Hint:" in mc.question and "\\boxed{}" in mc.question
    assert rows[2].metadata["precision"] == 1 and rows[2].answer_type == "float"
    assert mc.metadata["skills"] == ["scientific reasoning"] and mc.category == "general-vqa"
    release = load(MathVista(path=str(F / "mathvista_release" / "testmini.json")))
    assert [s.id for s in release] == ["mathvista/1", "mathvista/2"]


def test_mathverse_versions_and_inline_choices():
    rows = load(MathVerse(path=str(F / "mathverse")))
    assert len(rows) == 4
    assert rows[0].choices == ["This is a function", "This is not a function"]
    assert rows[0].metadata["problem_version"] == "Text Dominant"
    assert "According to the question" in rows[0].question
    only = load(MathVerse(path=str(F / "mathverse"), versions=["Vision Only"]))
    assert [s.metadata["problem_version"] for s in only] == ["Vision Only"]


def test_mathvision_splits():
    test = load(MathVision(path=str(F / "mathvision")))
    mini = load(MathVision(path=str(F / "mathvision"), split="testmini"))
    assert (len(test), len(mini)) == (4, 2)
    assert (
        test[0].answer_type == "choice"
        and "(E) star" in test[0].question
        and "<image1>" not in test[0].question
    )
    assert test[1].answer_type == "expression" and test[1].choices == []
    assert MathVision(split="testmini").name == "mathvision_testmini"


def test_mmmu_subjects_and_image_order():
    rows = load(MMMU(path=str(F / "mmmu"), subjects=["Accounting", "Geography"]))
    assert [s.metadata["subject"] for s in rows] == ["Accounting"] * 2 + ["Geography"] * 2
    two = rows[1]  # "Compare <image 2> with <image 1>": image_2 (white) comes first
    assert two.images[0].getpixel((0, 0)) == (255, 255, 255) and two.images[1].getpixel((0, 0)) == (0, 0, 0)
    assert rows[2].answer_type == "text" and rows[2].choices == []
    assert "Answer: $LETTER" in rows[0].question


def test_mmmu_pro_variants():
    std = load(MMMU(path=str(F / "mmmu_pro"), variant="pro_standard", split="test"))
    vis = load(MMMU(path=str(F / "mmmu_pro"), variant="pro_vision", split="test"))
    assert len(std[0].choices) == 10 and "J. opt9" in std[0].question
    assert vis[0].question.startswith("<image>\nWrite out the multiple-choice question")
    assert (std[0].metadata["subject"], vis[0].id) == ("Art", "mmmu_pro_vision/test_Art_1")


def test_emma_multi_image_and_context():
    rows = load(EMMA(path=str(F / "emma"), subjects=["Math", "Physics"]))
    phys = rows[-1]
    assert len(phys.images) == 2 and phys.question.startswith("Two blocks")
    assert rows[1].answer_type == "expression" and rows[0].answer_type == "choice"
    with pytest.raises(MissingFileError, match="benchmark.emma.path"):
        list(EMMA(path=str(F / "emma")).load())  # Chemistry/Coding folders absent


def test_wemath_keys():
    rows = load(WeMath(path=str(F / "wemath")))
    assert [s.metadata["key"] for s in rows][:3] == ["2steps_1", "2steps_2", "2steps_multi"]
    assert rows[0].choices == ["2", "4", "6", "8", "No correct answer"]
    assert "<Answer>: <<your option>>" in rows[0].question


def test_dynamath_variants():
    rows = load(DynaMath(path=str(F / "dynamath"), split=["sample_variant1", "sample_variant2"]))
    assert len(rows) == 6 and rows[0].metadata["seed"] == rows[3].metadata["seed"] == "1"
    assert [s.answer_type for s in rows[:3]] == ["choice", "float", "text"]
    assert '"short answer"' in rows[0].question


def test_logicvista_release_layout():
    rows = load(LogicVista(path=str(F / "logicvista" / "data")))
    assert [s.answer for s in rows] == ["C", "A, C", "3"]
    assert rows[2].metadata["labels"] == "123456789" and rows[0].metadata["capability"] == ["diagram", "ocr"]


def test_chartqa_classlabel():
    rows = load(ChartQA(path=str(F / "chartqa")))
    assert [s.metadata["human_or_machine"] for s in rows] == ["human", "human", "machine", "machine"]


def test_vtbench_tasks():
    for task in ("perception", "instruction", "reasoning"):
        rows = load(VTBench(path=str(F / "vtbench"), task=task))
        assert len(rows) == 2 and rows[0].id == f"vtbench_{task}/1"
    perception = load(VTBench(path=str(F / "vtbench"), task="perception"))
    assert "reference_png" in perception[0].metadata


def test_limit_counts_samples():
    assert len(list(MathVista(path=str(F / "mathvista"), limit=2).load())) == 2


def test_missing_local_path_is_one_line():
    with pytest.raises(MissingFileError) as err:
        list(MathVista(path="./nowhere/mathvista").load())
    assert "benchmark.mathvista.path" in str(err.value) and "\n" not in str(err.value)


def test_save_to_disk_folder(tmp_path):
    from datasets import load_dataset

    ds = load_dataset(
        "parquet", data_files=str(F / "chartqa/data/test-00000-of-00001.parquet"), split="train"
    )
    ds.save_to_disk(str(tmp_path / "chartqa"))
    rows = list(load_rows(str(tmp_path / "chartqa"), "test"))
    assert len(rows) == 4 and rows[0]["label"] == ["100"]
