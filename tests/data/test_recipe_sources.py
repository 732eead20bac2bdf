"""The recipes' training sources, each read through its shipped option from a fixture in the
dataset's own schema (tests/fixtures/datasets/make_fixtures.py says where each schema comes from)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from vrl.data import HFSource, Sample, Skipped
from vrl.data.prompts import VTHINKER_SYSTEM
from vrl.data.vinteraction import cot_segments
from vrl.errors import ConfigError, MissingFileError, VrlError

FIX = Path(__file__).resolve().parents[1] / "fixtures"
DATASETS = FIX / "datasets"
CONF = Path(__file__).resolve().parents[2] / "vrl" / "conf" / "data"
VLRETHINKER = "\n\nPlease reason step by step, and put your final answer within \\boxed{}."


def source(option: str, path: Path, **overrides):
    """The option's source on `path`; built by its class directly so errors arrive unwrapped."""
    cfg = OmegaConf.merge(OmegaConf.load(CONF / f"{option}.yaml"), {"path": str(path), **overrides})
    kwargs = instantiate(cfg, _convert_="all", _target_="builtins.dict")
    return get_class(cfg._target_)(**kwargs)


def samples(src) -> list[Sample]:
    items = list(src.iter_samples())
    assert all(isinstance(i, Sample) for i in items), [i for i in items if isinstance(i, Skipped)]
    return items


def test_virl39k_appends_vlrethinkers_instruction_and_selects_by_pass_rate():
    rows = samples(source("virl39k", FIX / "virl39k"))
    # The 7B selection (non-zero PassRate_7BBase): 0.0 and the unlabelled -1 are left out.
    assert [s.id for s in rows] == [f"fixture-{i:04d}" for i in range(5)]
    first = rows[0]
    assert first.prompt == [
        {"role": "user", "content": "<image>How many circles are in the image?" + VLRETHINKER}
    ]
    assert first.metadata["question"] == "<image>How many circles are in the image?"
    by_32b = samples(source("virl39k", FIX / "virl39k", pass_rate_column="PassRate_32BTrained"))
    assert len(by_32b) == 6  # only the 32B rate of 0.0 is left out
    assert len(samples(source("virl39k", FIX / "virl39k", pass_rate_column=None))) == 7
    assert source("virl39k", FIX / "virl39k").selection == {"rows": 7, "kept": 5}
    with pytest.raises(ConfigError, match="pass_rate_column"):
        source("virl39k", FIX / "virl39k", pass_rate_column="PassRate_72B")
    with pytest.raises(ConfigError, match="pass_rate_above"):
        source("virl39k", FIX / "virl39k", pass_rate_above=1.0)
    rethink = {"_target_": "vrl.data.prompts.template", "name": "vlrethinker_rethink"}
    [guided, *_] = samples(source("virl39k", FIX / "virl39k", prompt_template=rethink))
    assert "regularly perform self-questioning" in guided.prompt[0]["content"]


def test_v_perception_40k_maps_its_image_column():
    rows = samples(source("v_perception_40k", DATASETS / "v_perception_40k"))
    assert [s.id for s in rows] == ["vp-0", "vp-1", "vp-2"]
    assert all(len(s.images) == 1 and s.images[0].size == (56, 56) for s in rows)
    assert rows[0].answer == "(17, 17)" and rows[0].prompt == [
        {"role": "user", "content": "What are the coordinates of the centre of the coloured circle?"}
    ]
    assert rows[0].metadata["element_arrtibute"] == ["circle", "red"]


def test_an_image_column_left_unmapped_is_refused_not_trained_blind():
    # The bug this guards against: V-Perception-40K read with the default `images` column name
    # while its column is `image` would have produced image-less samples without a word.
    with pytest.raises(ConfigError, match=r"columns\.images.*'image'"):
        HFSource(str(DATASETS / "v_perception_40k"), split="v_perception_40k", columns={"id": "id"})
    # Mapped to a column that holds no images: the first rows all come out without one -> stop.
    bad = HFSource(
        str(DATASETS / "v_perception_40k"), split="v_perception_40k", columns={"images": "python_code"}
    )
    with pytest.raises(VrlError, match="none of the first 3 rows has an image"):
        list(bad.iter_samples())
    # A text-only source says so.
    text_only = HFSource(
        str(DATASETS / "v_perception_40k"),
        split="v_perception_40k",
        columns={"id": "id"},
        require_images=False,
    )
    assert all(s.images == [] for s in text_only.iter_samples())


def test_a_row_without_its_image_is_skipped(tmp_path):
    import datasets

    features = datasets.Features(
        {"question": datasets.Value("string"), "answer": datasets.Value("string"), "image": datasets.Image()}
    )
    png = (DATASETS / "v_perception_40k").rglob("*.parquet")
    image = datasets.Dataset.from_parquet(str(next(png)))[0]["image"]
    rows = [
        {"question": "q1", "answer": "a", "image": image},
        {"question": "q2", "answer": "b", "image": None},
    ]
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(tmp_path / "train.parquet"))
    items = list(HFSource(str(tmp_path), columns={"images": "image"}).iter_samples())
    assert isinstance(items[0], Sample) and isinstance(items[1], Skipped)
    assert items[1].reason == "missing_image"


def test_rows_skipped_for_other_reasons_do_not_trip_the_image_check(tmp_path, monkeypatch):
    import datasets

    from vrl.data import hf_source

    monkeypatch.setattr(hf_source, "BLIND_CHECK_ROWS", 3)

    features = datasets.Features(
        {"question": datasets.Value("string"), "answer": datasets.Value("string"), "image": datasets.Image()}
    )
    png = (DATASETS / "v_perception_40k").rglob("*.parquet")
    image = datasets.Dataset.from_parquet(str(next(png)))[0]["image"]
    # The first BLIND_CHECK_ROWS rows have their image but no answer, then a usable row: the
    # first rows are all skipped, yet none for a missing image, so the source goes on.
    rows = [{"question": f"q{i}", "answer": "", "image": image} for i in range(3)]
    rows.append({"question": "q3", "answer": "a", "image": image})
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(tmp_path / "train.parquet"))
    items = list(HFSource(str(tmp_path), columns={"images": "image"}).iter_samples())
    assert [getattr(i, "reason", "sample") for i in items] == ["missing_answer"] * 3 + ["sample"]


def test_v_interaction_400k_reads_every_part_and_its_code_solution():
    sft = samples(source("v_interaction_400k", DATASETS / "v_interaction_400k"))
    assert sorted(s.id for s in sft) == ["vi-1-0", "vi-1-1", "vi-2-0", "vi-2-1"]  # split: all
    first = next(s for s in sft if s.id == "vi-1-0")
    assert first.prompt == [
        {"role": "system", "content": VTHINKER_SYSTEM},
        {"role": "user", "content": "<image>\nHow many circles are there?"},
    ]
    trainable = [seg["trainable"] for seg in first.response]
    assert trainable == [True, False, True]
    assert first.response[1]["text"] == "<sandbox_output><image></sandbox_output>"
    assert len(first.response_images) == 1 and "CoT_with_code" not in first.metadata
    rl = samples(source("v_interaction_rl", DATASETS / "v_interaction_400k"))
    assert len(rl) == 4 and all(s.response == [] for s in rl)  # 3k in the recipe; the fixture has 4
    assert rl[0].prompt[-1]["content"].startswith("<image>\n") and "<answer>" in rl[0].prompt[-1]["content"]
    assert "CoT_with_code" not in rl[0].metadata
    assert len(samples(source("v_interaction_rl", DATASETS / "v_interaction_400k", split="train_part2"))) == 2


def test_cot_segments():
    segments, placed = cot_segments("a<sandbox_output>x</sandbox_output>b<sandbox_output>y</sandbox_output>")
    assert placed and [s["text"] for s in segments] == [
        "a",
        "<sandbox_output><image></sandbox_output>",
        "b",
        "<sandbox_output>y</sandbox_output>",
    ]
    assert cot_segments("no tool") == ([{"text": "no tool", "trainable": True}], False)


@pytest.mark.parametrize(
    ("option", "ids", "category"),
    [
        ("wemath2_standard", ["wm-0", "wm-1"], ""),
        ("mmk12", ["mmk12-0", "mmk12-1"], "math"),
        ("thinklite_vl_hard", ["tl-0", "tl-1"], ""),
    ],
)
def test_vthinker_rl_mix_sources_get_vthinkers_prompt(option, ids, category):
    rows = samples(source(option, DATASETS / option))
    assert [s.id for s in rows] == ids and rows[0].category == category
    system, user = rows[0].prompt
    assert system == {"role": "system", "content": VTHINKER_SYSTEM}
    assert user["content"].startswith("<image>\n" + rows[0].metadata["question"] + "\n")
    assert "<think>" in user["content"] and len(rows[0].images) == 1


def test_deepeyes_47k_keeps_its_own_prompt_and_reads_the_nested_answer():
    rows = samples(source("deepeyes_47k", DATASETS / "deepeyes_47k"))
    # All three files, though the chart file has a column the others lack (`rationale`).
    assert [s.id for s in rows] == ["vstar/0", "vstar/1", "chart/0", "thinklite_eureka/0"]
    vstar = rows[0]
    assert vstar.answer == "red" and vstar.category == "vstar"
    assert [m["role"] for m in vstar.prompt] == ["system", "user"]
    assert vstar.prompt[1]["content"].startswith("<image>\nWhat is the colour")
    assert vstar.metadata["question"] == "What is the colour of the small circle?"  # the judge's question
    assert vstar.metadata["env_name"] == "visual_toolbox_v2" and len(vstar.images) == 1
    assert rows[3].metadata["env_name"] is None and [m["role"] for m in rows[3].prompt] == ["user"]
    with pytest.raises(MissingFileError, match="data_files"):
        source("deepeyes_47k", DATASETS / "deepeyes_47k", data_files=["nope.parquet"])
    with pytest.raises(ConfigError, match="DeepEyes' format"):
        source("deepeyes_47k", DATASETS / "mmk12" / "data", data_files=["train-00000-of-00001.parquet"])
