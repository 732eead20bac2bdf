"""A tiny Qwen2.5-VL taught (by SFT on two tool trajectories) to call the zoom and code tools.

A random tiny model never writes a tool call, so the loop would never be exercised. Instead of
scripting the policy, the fixture fine-tunes the real tiny model, through the real
`SFTCollator` (tool segments untrainable, tool images in the response), until greedy decoding
reproduces each trajectory: prompt 0 -> zoom call -> `<answer>`, prompt 1 -> code call -> `<answer>`.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
import torch
from tool_calls import ANSWER, CODE_CALL, ZOOM_CALL

from vrl.data.procedural import ProceduralSource
from vrl.data.schema import Sample
from vrl.model import LoadedVLM, TinyQwen25VL
from vrl.sft.collate import ResponseSegment, SFTCollator, pad_batch


@pytest.fixture(scope="session")
def tool_samples() -> list[Sample]:
    return list(itertools.islice(ProceduralSource(num_samples=8, image_size=64).iter_samples(), 2))


def trajectory_segments(sample: Sample, call: str, result_open: str, result_close: str, crop) -> list:
    return [
        ResponseSegment(call),
        ResponseSegment(f"{result_open}<image>{result_close}", trainable=False, images=(crop,)),
        ResponseSegment(ANSWER.format(answer=sample.answer)),
    ]


@pytest.fixture(scope="session")
def tool_policy_dir(tmp_path_factory, tiny_models, tool_samples) -> Path:
    source = ProceduralSource(num_samples=16, image_size=64)
    corpus = [*source.corpus(), ZOOM_CALL, CODE_CALL, "<tool_response></tool_response>"]
    corpus += ["<sandbox_output></sandbox_output>", "<answer></answer>"]
    # A copy of the factory's model: this fixture trains and saves it.
    directory = Path(
        shutil.copytree(tiny_models.dir(corpus), tmp_path_factory.mktemp("tool-policy") / "model")
    )
    loaded = TinyQwen25VL().load(str(directory))
    zoom, code = tool_samples
    crop = zoom.images[0].crop((0, 0, 40, 40))
    collator = SFTCollator(loaded.processor, "{answer}")
    batch = pad_batch(
        [
            collator.encode(
                zoom, trajectory_segments(zoom, ZOOM_CALL, "<tool_response>", "</tool_response>", crop)
            ),
            collator.encode(
                code,
                trajectory_segments(
                    code,
                    CODE_CALL,
                    "<sandbox_output>",
                    "</sandbox_output>",
                    code.images[0].crop((0, 0, 32, 32)),
                ),
            ),
        ],
        loaded.processor.tokenizer.pad_token_id,
    )
    model = loaded.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    inputs = {k: v for k, v in batch.items() if k != "loss_mask"}
    mask = batch["loss_mask"][:, 1:].float()
    targets = batch["input_ids"][:, 1:]
    for _ in range(800):
        logits = model(**inputs).logits[:, :-1]
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        loss = (nll * mask).sum() / mask.sum()
        # Greedy decoding must reproduce every target token: a low mean loss alone once left one
        # token ("```" for "```python") second best with one intra-op thread (OMP_NUM_THREADS=1).
        memorised = bool((logits.argmax(-1) == targets)[mask.bool()].all())
        if loss.item() < 0.003 and memorised:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert memorised, f"the tool policy did not memorise its two trajectories (loss {loss.item():.4f})"
    model.save_pretrained(directory)
    return directory


@pytest.fixture()
def tool_policy(tool_policy_dir) -> LoadedVLM:
    """A fresh copy per test (RL tests change the weights)."""
    return TinyQwen25VL().load(str(tool_policy_dir))
