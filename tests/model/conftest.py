"""Model-test fixtures: the tiny Qwen2.5-VL on a small chat corpus (built by tests/conftest.py's
factory, loaded once per session), and image/chat helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from vrl.model import LoadedVLM, TinyQwen25VL

CORPUS = [
    "How many circles are in the image? Answer with a number.",
    "<think>I count the circles one by one.</think><answer>3</answer>",
    "What colour is the square? Answer with one word.",
] * 20


def _circles(n: int, size: int = 56) -> Image.Image:
    """An RGB image with `n` red circles on white (size x size px)."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    for i in range(n):
        x = 4 + (i % 2) * size // 2
        y = 4 + (i // 2) * size // 2
        draw.ellipse((x, y, x + size // 3, y + size // 3), fill="red")
    return image


def _user_turn(question: str) -> list[dict]:
    """One user message with an image part then a text part (processor chat format)."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


@pytest.fixture(scope="session")
def tiny_dir(tiny_models) -> Path:
    return tiny_models.dir(CORPUS)


@pytest.fixture(scope="session")
def tiny(tiny_dir) -> LoadedVLM:
    return TinyQwen25VL().load(str(tiny_dir))


@pytest.fixture(scope="session")
def circles():
    """`circles(n, size=56)` -> an RGB image with n red circles on white."""
    return _circles


@pytest.fixture(scope="session")
def user_turn():
    """`user_turn(question)` -> chat messages: one user turn with an image then the question."""
    return _user_turn
