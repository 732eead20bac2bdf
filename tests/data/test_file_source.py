"""JsonlSource / ParquetSource: relative image paths, column mapping, bad records counted by reason."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vrl.data import JsonlSource, ParquetSource, Sample, Skipped, materialize
from vrl.errors import ConfigError, MissingFileError


def _write_jsonl(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = {
    "id": "g1",
    "question": "<image>What colour?",
    "images": ["imgs/ok.png"],
    "answer": "red",
    "split": "x",
}
BAD = [
    {"id": "b1", "question": "<image>?", "images": ["imgs/missing.png"], "answer": "1"},  # missing file
    {"id": "b2", "question": "<image>?", "images": ["imgs/junk.png"], "answer": "1"},  # unreadable
    {"id": "b3", "question": "<image>?", "images": ["imgs/ok.png"]},  # no answer
    {"id": "b4", "question": "<image>?", "images": ["imgs/ok.png"], "answer": "  "},  # empty answer
    {"id": "b5", "question": "<image>?", "images": ["imgs/ok.png"], "answer": {"v": 1}},  # wrong type
    {"id": "b6", "question": ["not", "text"], "images": ["imgs/ok.png"], "answer": "1"},  # wrong type
    {"id": "b7", "question": "<image><image>?", "images": ["imgs/ok.png"], "answer": "1"},  # 2 marks, 1 image
    {"id": "b8", "question": "<image>?", "images": [42], "answer": "1"},  # wrong type
    "{not json",
]
EXPECTED = {
    "missing_image": 2,
    "unreadable_image": 1,
    "missing_answer": 2,
    "bad_field_type": 3,
    "bad_json": 1,
}


def test_jsonl_relative_paths_and_metadata(tmp_path, image_dir):
    path = _write_jsonl(tmp_path / "data.jsonl", [GOOD, {**GOOD, "id": "g2", "answer": r"\boxed{7}"}])
    samples = list(JsonlSource(str(path)).iter_samples())
    assert [s.id for s in samples] == ["g1", "g2"] and samples[1].answer == "7"
    assert samples[0].images[0].size == (16, 16) and samples[0].metadata == {"split": "x"}
    assert samples[0].source == "jsonl:data"


def test_jsonl_image_root_and_column_mapping(tmp_path, image_dir):
    record = {"problem": "Which?", "pics": "ok.png", "solution": "B", "options": ["cat", "dog"], "kind": "mc"}
    path = _write_jsonl(tmp_path / "sub.jsonl", [record])
    source = JsonlSource(
        str(path),
        columns={
            "question": "problem",
            "images": "pics",
            "answer": "solution",
            "choices": "options",
            "category": "kind",
        },
        image_root=str(image_dir),
        answer_type="choice",
    )
    (sample,) = source.iter_samples()
    assert sample.choices == ["cat", "dog"] and sample.category == "mc" and sample.answer_type == "choice"
    assert len(sample.images) == 1 and sample.metadata == {}


def test_bad_records_are_counted_by_reason_and_the_run_continues(tmp_path, image_dir):
    path = _write_jsonl(tmp_path / "data.jsonl", [GOOD, *BAD, {**GOOD, "id": "g_last"}])
    items = list(JsonlSource(str(path)).iter_samples())
    assert [i.id for i in items if isinstance(i, Sample)] == ["g1", "g_last"]
    assert Counter(i.reason for i in items if isinstance(i, Skipped)) == EXPECTED
    report = materialize(items, tmp_path / "out", limit=None, description="test")
    assert report.written == 2 and report.skipped == EXPECTED
    assert report.examples["missing_image"] == ["b1", "b7"]
    assert "missing_image" in report.to_markdown()


def test_parquet_relative_paths_bytes_and_bad_rows(tmp_path, image_dir, png):
    rows = [
        {"question": "<image>a", "answer": "1", "image": "imgs/ok.png", "blob": None},
        {"question": "<image>b", "answer": "2", "image": None, "blob": {"bytes": png("blue"), "path": None}},
        {"question": "<image>c", "answer": "3", "image": "imgs/missing.png", "blob": None},
        {"question": "<image>d", "answer": None, "image": "imgs/ok.png", "blob": None},
    ]
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    first = list(ParquetSource(str(path), columns={"images": "image"}).iter_samples())
    assert isinstance(first[0], Sample) and first[0].id == "0" and first[0].metadata == {"blob": None}
    assert [getattr(i, "reason", None) for i in first] == [
        None,
        "missing_image",
        "missing_image",
        "missing_answer",
    ]
    second = list(ParquetSource(str(path), columns={"images": "blob"}, num_samples=2).iter_samples())
    assert second[1].images[0].getpixel((0, 0)) == (0, 0, 255)
    assert second[1].metadata == {"image": None}


def test_missing_file_names_key_and_path(tmp_path):
    for cls in (JsonlSource, ParquetSource):
        with pytest.raises(MissingFileError) as error:
            cls(str(tmp_path / "absent.data"))
        message = str(error.value)
        assert (
            message.startswith("path:") and str(tmp_path / "absent.data") in message and "\n" not in message
        )


def test_unknown_column_is_a_config_error(tmp_path):
    path = _write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(ConfigError, match=r"columns\.images: column 'pics'"):
        JsonlSource(str(path), columns={"images": "pics"})
    with pytest.raises(ConfigError, match=r"columns\.picture"):
        JsonlSource(str(path), columns={"picture": "question"})


def test_prompt_column_as_chat_messages(tmp_path):
    record = {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
        "answer": 4,
    }
    path = _write_jsonl(tmp_path / "chat.jsonl", [record, {"prompt": [{"role": "user"}], "answer": 1}])
    sample, bad = JsonlSource(str(path), answer_type="integer").iter_samples()
    assert sample.prompt == record["prompt"] and sample.answer == "4" and sample.question == "2+2?"
    assert bad.reason == "bad_field_type"
    both = _write_jsonl(tmp_path / "both.jsonl", [{**record, "q": "3+3?"}])
    (explicit,) = JsonlSource(str(both), columns={"question": "q"}).iter_samples()
    assert explicit.prompt == [{"role": "user", "content": "3+3?"}]  # a mapped question wins over "prompt"
    assert explicit.metadata == {"prompt": record["prompt"]}


def test_a_line_that_is_not_utf8_is_skipped_and_counted_never_replaced(tmp_path):
    from vrl.data import JsonlSource, Skipped

    path = tmp_path / "d.jsonl"
    good = json.dumps({"question": "q?", "answer": "1"}).encode()
    bad = '{"question": "Réponse ?", "answer": "2"}'.encode("latin-1")
    path.write_bytes(good + b"\n" + bad + b"\n")
    items = list(JsonlSource(str(path)).iter_samples())
    assert items[0].question == "q?"
    assert (
        isinstance(items[1], Skipped) and items[1].reason == "bad_encoding" and items[1].record_id == "line 2"
    )


@pytest.mark.parametrize(
    ("content", "what"),
    [(b"", "empty"), (bytes(range(256)), "binary"), (b"a,b\n1,2\n", "text starting 'a,b'")],
)
def test_a_file_that_is_not_json_lines_is_named_as_such(tmp_path, content, what):
    from vrl.data import JsonlSource

    (tmp_path / "d.jsonl").write_bytes(content)
    with pytest.raises(ConfigError, match=rf"holds no JSON object in its first 100 lines \(it is {what}\)"):
        JsonlSource(str(tmp_path / "d.jsonl"))
