"""Helpers shared by the data tests: tiny images and records on disk."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def png_bytes(color: str = "red", size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def png():
    """png_bytes(color="red", size=16) -> PNG bytes."""
    return png_bytes


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """tmp_path/imgs with ok.png (readable) and junk.png (not an image)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "ok.png").write_bytes(png_bytes())
    (folder / "junk.png").write_bytes(b"this is not a png")
    return folder


@pytest.fixture
def virl39k_dir() -> Path:
    return FIXTURES / "virl39k"
