"""A headless Chromium for the report's HTML test (Debian's `chromium` package). Without one the
test skips, or fails when `VRL_REQUIRE_CHROMIUM=1` (CI installs it and sets that)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


class Browser:
    """`chromium --headless`: the DOM a page renders to, and a screenshot of it."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.binary = binary
        self.profile = profile

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [
            self.binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={self.profile}",
            *args,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    def dump_dom(self, page: Path) -> str:
        return self._run("--dump-dom", page.resolve().as_uri()).stdout

    def screenshot(self, page: Path, out: Path, size: tuple[int, int] = (1280, 1600)) -> Path:
        self._run(f"--screenshot={out}", f"--window-size={size[0]},{size[1]}", page.resolve().as_uri())
        return out


@pytest.fixture(scope="session")
def browser(tmp_path_factory) -> Browser:
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    answer = ""
    if binary is not None:
        try:
            version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
            answer = (version.stdout + version.stderr).strip().splitlines()[-1:]
            answer = answer[0] if answer else ""
            if version.returncode != 0:
                binary = None
        except (OSError, subprocess.TimeoutExpired) as error:
            answer, binary = str(error), None
    if binary is None:
        message = (
            f"no headless Chromium ({answer or 'not on PATH'}): install it with `apt-get install chromium`"
        )
        if os.environ.get("VRL_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"VRL_REQUIRE_CHROMIUM=1 but {message}")
        pytest.skip(message)
    return Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
