"""Rollout sample rows: every field, the images inside the run dir, tool output marked."""

from __future__ import annotations

import json

from vrl.policy.trajectory import Trajectory
from vrl.rl.samples import COLUMNS, RolloutSamples, marked_response


def _trajectory(sample, tokenizer, step: int, group: int, text: str, tool: str = "") -> Trajectory:
    policy = tokenizer.encode(text, add_special_tokens=False)
    inserted = tokenizer.encode(tool, add_special_tokens=False) if tool else []
    return Trajectory(
        prompt_index=0,
        group_id=group,
        sample=sample,
        prompt_ids=[1, 2],
        response_ids=policy + inserted + policy,
        loss_mask=[1] * len(policy) + [0] * len(inserted) + [1] * len(policy),
        text="(decoded by the engine)",
        finished=True,
        reward=1.0,
        reward_parts={"accuracy": 1.0, "format": None},
        advantage=0.5,
        step=step,
    )


def test_a_sample_table_holds_fresh_and_replayed_rows_with_their_images(tmp_path, tiny, source):
    tokenizer = tiny.processor.tokenizer
    sample = next(iter(source.iter_samples()))
    fresh = [_trajectory(sample, tokenizer, 3, 30, "red"), _trajectory(sample, tokenizer, 3, 30, "blue")]
    old = _trajectory(sample, tokenizer, 1, 10, "green")
    writer = RolloutSamples(tmp_path, every_n_steps=1, max_rows=8)
    rows, images = writer.write(3, fresh, [fresh[0], old], tiny.processor)

    lines = [json.loads(line) for line in (tmp_path / "samples" / "step_3.jsonl").read_text().splitlines()]
    assert lines == rows and [list(row) for row in rows] == [COLUMNS] * 3
    assert [(r["group"], r["replayed"], r["trained"]) for r in rows] == [
        (30, False, True),
        (30, False, False),
        (10, True, True),
    ]
    assert rows[0]["reward_parts"] == {"accuracy": 1.0, "format": None} and rows[0]["advantage"] == 0.5
    assert rows[0]["answer"] == sample.answer and rows[0]["sample_id"] == sample.id
    for row, paths in zip(rows, images, strict=True):
        assert len(paths) == len(sample.images) and all(p.is_file() and p.stat().st_size > 0 for p in paths)
        assert [str(p.relative_to(tmp_path / "samples")) for p in paths] == row["images"]
    assert (
        RolloutSamples(tmp_path, 1, max_rows=2).write(3, fresh, [old], tiny.processor)[0][-1]["group"] == 30
    )


def test_tool_output_is_marked_in_the_response(tiny, source):
    tokenizer = tiny.processor.tokenizer
    sample = next(iter(source.iter_samples()))
    with_tool = _trajectory(sample, tokenizer, 0, 0, "red", tool="blue")
    text = marked_response(with_tool, tokenizer)
    assert text.count("[tool: ") == 1 and "blue" in text.split("[tool: ")[1]
    assert text.split("[tool: ")[0] == tokenizer.decode(tokenizer.encode("red", add_special_tokens=False))
    plain = _trajectory(sample, tokenizer, 0, 0, "red")
    assert marked_response(plain, tokenizer) == "(decoded by the engine)", (
        "the engine's text when no tool spoke"
    )
