"""materialize(): round trip through save_to_disk, validation into Skipped, atomic writes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from vrl.data import (
    TASK_FAMILIES,
    MaterializeReport,
    ProceduralSource,
    Sample,
    Skipped,
    generate,
    load_samples,
    materialize,
)
from vrl.errors import MissingFileError, VrlError


def _sample(i: int, **changes) -> Sample:
    fields = dict(
        id=f"s{i}",
        images=[Image.new("RGB", (8, 8), "red")],
        prompt=[{"role": "user", "content": "?"}],
        answer="1",
    )
    fields.update(changes)
    return Sample(**fields)


def test_round_trip_equals_the_original(tmp_path):
    originals = [generate(family, seed) for family in TASK_FAMILIES for seed in range(3)]
    report = materialize(originals, tmp_path / "ds", limit=None, description="round trip")
    assert isinstance(report, MaterializeReport) and report.written == len(originals) and report.skipped == {}
    dataset = load_samples(tmp_path / "ds")
    assert len(dataset) == len(originals)
    for row, original in zip(dataset, originals):
        back = Sample.from_record(row)
        for name in ("id", "prompt", "answer", "answer_type", "choices", "category", "source", "metadata"):
            assert getattr(back, name) == getattr(original, name), name
        assert [im.convert("RGB").tobytes() for im in back.images] == [im.tobytes() for im in original.images]


def test_validation_turns_bad_samples_into_skipped(tmp_path):
    truncated = Image.open(io.BytesIO(_png()[:60]))  # lazily opened: fails when converted
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))  # fully transparent -> white, not black
    items = [
        _sample(0),
        _sample(1, answer=""),
        _sample(2, answer_type="number"),
        _sample(3, images=[truncated]),
        _sample(4, images=["not an image"]),
        Skipped("missing_image", "upstream/7"),
        _sample(5, images=[rgba]),
        _sample(6),
    ]
    report = materialize(items, tmp_path / "ds", limit=None, description="validate")
    assert report.written == 3
    assert report.skipped == {
        "missing_answer": 1,
        "bad_answer_type": 1,
        "unreadable_image": 2,
        "missing_image": 1,
    }
    assert report.examples["unreadable_image"] == ["s3", "s4"] and report.examples["missing_image"] == [
        "upstream/7"
    ]
    rows = load_samples(tmp_path / "ds")
    assert rows["id"] == ["s0", "s5", "s6"]
    assert rows[1]["images"][0].convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    markdown = report.to_markdown()
    assert "| unreadable_image | 2 | `s3`, `s4` |" in markdown and "**3** samples written" in markdown


def test_limit_stops_reading(tmp_path):
    source = ProceduralSource()  # unlimited
    report = materialize(source.iter_samples(), tmp_path / "ds", limit=7, description="limit")
    assert report.written == 7 and len(load_samples(tmp_path / "ds")) == 7
    pulled = []
    counting = (pulled.append(i) or _sample(i) for i in range(100))
    materialize(counting, tmp_path / "ds2", limit=3, description="limit")
    assert len(pulled) == 3  # no item is drawn past the limit


def test_empty_dataset_loads_back(tmp_path):
    report = materialize([Skipped("missing_answer", "x")], tmp_path / "ds", limit=None, description="empty")
    assert report.written == 0 and len(load_samples(tmp_path / "ds")) == 0


def _exploding(n: int):
    for i in range(n):
        yield _sample(i)
    raise RuntimeError("interrupted")


def test_interrupted_write_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError, match="interrupted"):
        materialize(_exploding(300), tmp_path / "ds", limit=None, description="boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_dataset_survives_a_failed_rewrite_and_is_replaced_by_a_good_one(tmp_path):
    materialize([_sample(0)], tmp_path / "ds", limit=None, description="first")
    with pytest.raises(RuntimeError):
        materialize(_exploding(5), tmp_path / "ds", limit=None, description="boom")
    assert load_samples(tmp_path / "ds")["id"] == ["s0"]
    materialize([_sample(1), _sample(2)], tmp_path / "ds", limit=None, description="second")
    assert load_samples(tmp_path / "ds")["id"] == ["s1", "s2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_refuses_to_replace_a_directory_that_is_not_a_dataset(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(VrlError, match="out_dir"):
        materialize([_sample(0)], tmp_path / "mine", limit=None, description="x")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_load_samples_of_nothing_is_a_missing_file_error(tmp_path):
    with pytest.raises(MissingFileError, match="path"):
        load_samples(tmp_path / "none")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "blue").save(buffer, format="PNG")
    return buffer.getvalue()


def test_paths_may_be_strings(tmp_path):
    materialize([_sample(0)], str(tmp_path / "s"), limit=None, description="x")
    assert Path(tmp_path / "s" / "state.json").is_file()


def test_images_the_model_cannot_take_are_skipped_and_counted(tmp_path):
    from vrl.data.materialize import ImageLimits

    samples = [
        _sample(0),
        _sample(1, images=[Image.new("RGB", (10000, 10))]),  # Qwen-VL's processor refuses > 200
        _sample(2, images=[Image.new("RGB", (400, 2))]),  # exactly 200: fine
        _sample(3, images=[Image.new("L", (300, 300))]),
    ]
    report = materialize(
        samples, tmp_path / "ds", images=ImageLimits(max_aspect_ratio=200, max_pixels=50_000)
    )
    assert report.written == 2
    assert report.skipped == {"image_aspect_ratio": 1, "image_too_large": 1}
    assert report.examples == {"image_aspect_ratio": ["s1"], "image_too_large": ["s3"]}


@pytest.mark.parametrize(
    ("mode", "value", "grey"),
    [
        ("I;16", 32768, 128),  # a 16-bit PNG: 0..65535
        ("I;16B", 65535, 255),
        ("I", 32768, 128),  # 32-bit integers within 16 bits: 16-bit data
        ("I", 100, 100),  # within 8 bits: kept
        ("F", 0.5, 128),  # floats in [0, 1]
        ("F", 200.0, 200),
        ("LA", (128, 255), 128),
        ("CMYK", (0, 0, 0, 127), 128),
        ("1", 1, 255),
    ],
)
def test_every_image_mode_becomes_the_right_rgb(mode, value, grey):
    import numpy as np

    from vrl.data.records import to_rgb

    rgb = to_rgb(Image.new(mode, (4, 4), value))
    assert rgb.mode == "RGB"
    assert abs(float(np.asarray(rgb).mean()) - grey) <= 1, (mode, value, np.asarray(rgb).mean())
