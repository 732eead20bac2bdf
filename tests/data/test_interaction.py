"""Interaction generator: determinism, answers from the scene, REAL sandbox tool images, the no-tool variant."""

from __future__ import annotations

import pytest
from PIL import Image

from vrl.data.materialize import load_samples, materialize
from vrl.data.procedural import HOLDOUT_SEED_START
from vrl.data.procedural.base import PALETTE
from vrl.data.procedural.interaction import (
    QUADRANTS,
    RADIUS,
    SANDBOX_OUTPUT,
    InteractionSource,
    generate,
    run_tool,
    tool_code,
)
from vrl.data.schema import IMAGE_PLACEHOLDER, Sample, Skipped
from vrl.errors import ConfigError

SEEDS = range(60)


@pytest.fixture(scope="module")
def tool_samples() -> list[Sample]:
    return [s for s in InteractionSource(num_samples=12).iter_samples()]


def test_same_seed_same_problem_and_seeds_differ():
    a, b = generate(3, variant="direct"), generate(3, variant="direct")
    assert a.images[0].tobytes() == b.images[0].tobytes() and a.metadata == b.metadata
    assert len({generate(seed, variant="direct").images[0].tobytes() for seed in range(15)}) == 15


def test_answer_is_the_number_of_circles_drawn_inside_the_asked_quadrant():
    quadrants, answers = set(), set()
    for s in (generate(seed, variant="direct") for seed in SEEDS):
        quadrant = s.metadata["quadrant"]
        assert s.question == f"{IMAGE_PLACEHOLDER}How many circles are in the {quadrant} quadrant?"
        (col, row), _ = QUADRANTS[quadrant]
        half = s.images[0].width // 2
        inside = [
            o
            for o in s.metadata["objects"]
            if col * half < o["x"] < (col + 1) * half and row * half < o["y"] < (row + 1) * half
        ]
        assert int(s.answer) == sum(o["shape"] == "circle" for o in inside)
        assert all(o["quadrant"] == quadrant for o in inside)
        for o in s.metadata["objects"]:  # every recorded object is really there, in its colour
            assert s.images[0].getpixel((round(o["x"]), round(o["y"]))) == PALETTE[o["color"]]
        quadrants.add(quadrant)
        answers.add(s.answer)
    assert quadrants == set(QUADRANTS) and answers == {"1", "2", "3", "4"}


def test_objects_are_halved_in_the_tiny_view_and_full_size_after_the_zoom():
    s = generate(0, variant="direct")
    full_view = 112 / s.images[0].width  # the tiny model's max_pixels is 112 x 112
    radii = [RADIUS[0] * s.images[0].width / 224, RADIUS[1] * s.images[0].width / 224]
    # ~8 px in the full view (where counting stays at chance), 15-17 px zoomed (where it is learned)
    assert radii[1] * full_view <= 8.5 and radii[0] >= 15


def test_tool_trajectory_has_the_thyme_format(tool_samples):
    for s in tool_samples:
        code, output, answer = s.response
        assert code["trainable"] and answer["trainable"] and not output["trainable"]
        assert code["text"].startswith("<think>") and "</think><code>\n```python\n" in code["text"]
        assert code["text"].endswith("\n```\n</code>") and tool_code(s.metadata["quadrant"]) in code["text"]
        assert output["text"] == SANDBOX_OUTPUT and output["text"].count(IMAGE_PLACEHOLDER) == 1
        assert answer["text"] == f"<answer>{s.answer}</answer>"
        assert len(s.response_images) == 1 and s.metadata["code"] == tool_code(s.metadata["quadrant"])


def test_stored_tool_image_equals_rerunning_the_stored_code_in_the_sandbox(tool_samples, sandbox, tmp_path):
    for s in tool_samples:
        again = run_tool(sandbox, s.metadata["code"], s.images[0], tmp_path)
        assert again.size == s.response_images[0].size
        assert again.tobytes() == s.response_images[0].tobytes()
        (col, row), _ = QUADRANTS[s.metadata["quadrant"]]
        half = s.images[0].width // 2
        crop = s.images[0].crop((col * half, row * half, (col + 1) * half, (row + 1) * half))
        assert crop.resize((2 * half, 2 * half)).tobytes() == again.tobytes(), (
            "the zoom shows the asked quadrant"
        )


def test_no_tool_variant_is_the_same_problem_answered_directly(tool_samples):
    for tool in tool_samples:
        direct = generate(tool.metadata["seed"], variant="direct")
        assert (direct.id, direct.prompt, direct.answer, direct.answer_type) == (
            tool.id,
            tool.prompt,
            tool.answer,
            tool.answer_type,
        )
        assert direct.images[0].tobytes() == tool.images[0].tobytes()
        assert direct.response == [{"text": f"<answer>{tool.answer}</answer>", "trainable": True}]
        assert direct.response_images == [] and direct.metadata["variant"] == "direct"


def test_failing_tool_code_raises_instead_of_inventing_an_image(sandbox, tmp_path):
    image = Image.new("RGB", (224, 224), "white")
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        run_tool(sandbox, "x = 1 / 0", image, tmp_path)
    with pytest.raises(RuntimeError, match="no image"):
        run_tool(sandbox, "print('hello')", image, tmp_path)


def test_trajectories_survive_materialisation(tool_samples, tmp_path):
    report = materialize(iter(tool_samples[:4] + [Skipped("tool_error", "x")]), tmp_path / "ds")
    assert report.written == 4 and report.skipped == {"tool_error": 1}
    rows = load_samples(tmp_path / "ds")
    for row, original in zip(rows, tool_samples):
        back = Sample.from_record(row)
        assert back.response == original.response
        assert back.response_images[0].convert("RGB").tobytes() == original.response_images[0].tobytes()
        assert len(back.images) == 1, "tool images never join the prompt's images"


def test_training_and_holdout_ranges_are_disjoint_and_guarded():
    train = {s.id for s in InteractionSource(num_samples=4, variant="direct").iter_samples()}
    held = InteractionSource(num_samples=4, seed_start=HOLDOUT_SEED_START, variant="direct", holdout=True)
    assert not train & {s.id for s in held.iter_samples()}
    with pytest.raises(ConfigError, match="hold-out range"):
        InteractionSource(num_samples=10, seed_start=HOLDOUT_SEED_START - 1)
    with pytest.raises(ConfigError, match="seed_start"):
        InteractionSource(seed_start=5, holdout=True)
    with pytest.raises(ConfigError, match="variant"):
        InteractionSource(variant="zoom")
    with pytest.raises(ConfigError, match="image_size"):
        InteractionSource(image_size=64)


def test_corpus_covers_the_trajectory_texts(tool_samples):
    corpus = set(InteractionSource().corpus())
    for s in tool_samples:
        assert s.question.replace(IMAGE_PLACEHOLDER, "") in corpus and s.response[0]["text"] in corpus


def test_difficulty_levels_follow_the_count():
    levels = set()
    for s in (generate(seed, variant="direct") for seed in SEEDS):
        assert s.metadata["difficulty"] == {"1": 1, "2": 1, "3": 2, "4": 3}[s.answer]
        assert all(o["shape"] == "circle" for o in s.metadata["objects"])
        levels.add(s.metadata["difficulty"])
    assert levels == {1, 2, 3}


def test_sft_collator_trains_the_policy_text_and_feeds_the_real_tool_image(tool_samples, tiny_models):
    """The schema contract with `vrl.sft.collate`: code and answer trained, sandbox output masked,
    the tool image's pixels after the prompt image's."""
    import torch

    from vrl.sft.collate import SFTCollator

    processor = tiny_models.processor(list(InteractionSource().corpus()))
    sample = tool_samples[0]
    example = SFTCollator(processor, "<answer>{answer}</answer>", max_length=512).encode(sample)
    ids, mask = example["input_ids"], example["loss_mask"].bool()
    trained = processor.tokenizer.decode(ids[mask])
    masked_response = processor.tokenizer.decode(ids[~mask])
    assert sample.response[0]["text"] in trained and "<answer>" in trained
    assert "sandbox_output" not in trained and "image_pad" not in trained
    assert "<sandbox_output>" in masked_response and "</sandbox_output>" in masked_response
    assert example["image_grid_thw"].shape[0] == 2, "prompt image + tool image"
    pixels = processor.image_processor(
        images=[sample.images[0], sample.response_images[0]], return_tensors="pt"
    )
    assert torch.equal(example["pixel_values"], pixels["pixel_values"])
