"""VTBench's image tasks scored through a real eval run: `python -m vrl +experiment=eval` with the
code tool, the sandbox, and a policy that calls the tool (scripted: tests/scripted_policy.py), so
the image the program produced reaches the scorer. Before, the eval stage scored text only and
every perception/instruction item came out wrong."""

from __future__ import annotations

import io
import json
import os

import pytest
from datasets import Dataset, Features, Image, Value
from PIL import Image as PILImage
from PIL import ImageDraw
from vrl_testing import REPO, run_vrl

S = Value("string")
FEATURES = Features(
    {
        "id": S,
        "image": Image(),
        "annotation_perception": Image(),
        "annotation_instruction": Image(),
        "question_reasoning": S,
        "answer_reasoning": S,
        "question_perception": S,
        "question_instruction": S,
        "answer_instruction": S,
    }
)  # VTBench's card schema (as tests/fixtures/benchmarks/make_fixtures.py writes it)


def _png(dots=()) -> dict:
    image = PILImage.new("RGB", (64, 64), "white")
    draw = ImageDraw.Draw(image)
    draw.line((8, 56, 56, 56), fill="black", width=2)  # segment AB
    for x, y in dots:
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(255, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def _mark(x: int, y: int) -> str:
    """A reply that marks (x, y) with code, as the policy would write it."""
    code = (
        "from PIL import Image, ImageDraw\n"
        "image_path = '/mnt/data/figure.png'\n"  # a made-up path: the tool's image_path rewrite fixes it
        "image = Image.open(image_path).convert('RGB')\n"
        f"ImageDraw.Draw(image).ellipse(({x - 3}, {y - 3}, {x + 3}, {y + 3}), fill=(255, 0, 0))\n"
        "image.save('marked.png')\n"
        "processed_path = 'marked.png'"
    )
    return f"<think>Mark it.</think>\n<code>\n```python\n{code}\n```\n</code>"


@pytest.mark.slow
def test_vtbench_perception_scores_the_image_the_tool_produced(tmp_path):
    rows = [
        {
            "id": str(i),
            "image": _png(),
            "annotation_perception": _png(dots=[(32, 56)]),
            "annotation_instruction": _png(dots=[(32, 20)]),
            "question_reasoning": "How long is AB?",
            "answer_reasoning": "4",
            "question_perception": "Mark the midpoint of AB.",
            "question_instruction": "Mark the point above the midpoint of AB.",
            "answer_instruction": "",
        }
        for i in (1, 2)
    ]
    bench = tmp_path / "vtbench" / "data"
    bench.mkdir(parents=True)
    Dataset.from_list(rows, features=FEATURES).to_parquet(str(bench / "train-00000-of-00001.parquet"))
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "vtbench_perception/1": [_mark(32, 56), "<answer>done</answer>"],  # the midpoint: right
                "vtbench_perception/2": [_mark(10, 10), "<answer>done</answer>"],  # a corner: wrong
            }
        )
    )
    run_dir = tmp_path / "run"
    result = run_vrl(
        [
            "+experiment=eval",
            "model=tiny_qwen2_5_vl",
            "trainer=cpu",
            "logger.wandb_mode=disabled",
            "tool=code",
            "sandbox=local",
            "benchmark=[vtbench_perception]",
            f"benchmark.vtbench_perception.path={tmp_path / 'vtbench'}",
            "rollout._target_=scripted_policy.ScriptedEngine",
            f"+rollout.script={script}",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=REPO,
        env={"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = run_dir / "eval" / "vtbench_perception"
    items = {r["id"]: r for r in map(json.loads, (out / "items.jsonl").read_text().splitlines())}
    right, wrong = items["vtbench_perception/1"], items["vtbench_perception/2"]
    assert right["correct"] and right["extracted"] == "<image>" and right["judge"] == "rule"
    assert not wrong["correct"] and wrong["extracted"] == "<image>"
    assert (out / right["generated_image"]).is_file() and (out / wrong["generated_image"]).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == 50.0 and metrics["tool/calls_per_item"] == 1.0
