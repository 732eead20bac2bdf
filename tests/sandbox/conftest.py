"""Sandboxes shared by the sandbox tests: one per backend per module (start-up ~0.5 s each).

`sandbox` also runs every test with confined processes reused across calls (`*-reuse`,
calls_per_process > 1): the attacks must fail the same way there. The bwrap tests skip, with
the probe's reason, only where bwrap genuinely cannot run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from sandbox_helpers import start


@pytest.fixture(scope="module", params=["bwrap", "process", "bwrap-reuse", "process-reuse"])
def sandbox(request):
    sb = start(request.param)
    yield sb
    sb.close()


@pytest.fixture(scope="module", params=["bwrap", "process"])
def persistent_sandbox(request):
    sb = start(request.param, persistent=True)
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """A 320x240 test image with a red square at (100, 60)-(180, 140)."""
    path = tmp_path_factory.mktemp("img") / "scene.png"
    img = Image.new("RGB", (320, 240), (30, 90, 200))
    img.paste((220, 20, 20), (100, 60, 180, 140))
    img.save(path)
    return path
