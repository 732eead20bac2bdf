"""`VInteractionSource`: We-Math/V-Interaction-400K, V-Thinker's flywheel output (SFT cold start, RL).

Schema (dataset card `dataset_info`, We-Math/V-Interaction-400K refs/pr/2): id, question, image
(Image), original_img_code (the code that renders `image`), edited_image (Image, the image after
the solution's tool code), tool_code, CoT_with_code (the solution with its code), answer; splits
train_part1 ... train_part25 (10,113 rows each; the preview release holds 252k rows), so the
shipped option reads `split: all`.

For RL only the problem is used (question + image -> answer). For SFT (`target: cot`) the
response is CoT_with_code; where it holds a `<sandbox_output>...</sandbox_output>` span, the first
span's content becomes the edited image (a `<image>` placeholder, loss mask 0, as the tool loop
would return it). The card gives the column names and types but no sample row, so the markup
inside CoT_with_code is not verified here (see experiments/recipes/vthinker_7b.md).
"""

from __future__ import annotations

import re
from typing import Any

from vrl.errors import ConfigError

from .hf_source import HFSource, takes_hfsource_arguments
from .schema import IMAGE_PLACEHOLDER, Sample, Skipped

TARGETS = ("answer", "cot")
_SANDBOX = re.compile(r"(<sandbox_output>)(.*?)(</sandbox_output>)", re.DOTALL)


def cot_segments(cot: str) -> tuple[list[dict[str, Any]], bool]:
    """CoT_with_code as SFT segments, and whether the edited image has a slot in them.

    Sandbox output spans are untrainable; the first one's content is replaced by the image
    placeholder (its text, if any, was what the sandbox printed).
    """
    segments: list[dict[str, Any]] = []
    placed, last = False, 0
    for match in _SANDBOX.finditer(cot):
        if match.start() > last:
            segments.append({"text": cot[last : match.start()], "trainable": True})
        inner = match.group(2) if placed else IMAGE_PLACEHOLDER
        segments.append({"text": match.group(1) + inner + match.group(3), "trainable": False})
        placed, last = True, match.end()
    if last < len(cot):
        segments.append({"text": cot[last:], "trainable": True})
    return segments, placed


@takes_hfsource_arguments
class VInteractionSource(HFSource):
    """V-Interaction-400K rows (arguments: `HFSource`, plus what the response is).

    Args:
        target: "answer" (RL: the gold answer only) or "cot" (SFT: CoT_with_code as the
            response, the edited image in its first sandbox output).
        **kwargs: `HFSource` arguments.
    """

    def __init__(self, target: str = "answer", **kwargs: Any) -> None:
        if target not in TARGETS:
            raise ConfigError(f"target: {target!r} is not one of {', '.join(TARGETS)}")
        self.target = target
        super().__init__(**kwargs)

    def _prepare(self, row: dict[str, Any]) -> dict[str, Any]:
        self._edited = row.get("edited_image")  # used by `_finish` for this same row
        return row

    def _finish(self, item: Sample | Skipped) -> Sample | Skipped:
        item = super()._finish(item)
        if not isinstance(item, Sample):
            return item
        cot = item.metadata.pop("CoT_with_code", None)  # the solution: SFT target, never RL metadata
        if self.target != "cot":
            return item
        if not isinstance(cot, str) or not cot.strip():
            return Skipped("missing_answer", item.id, "empty CoT_with_code")
        segments, placed = cot_segments(cot)
        item.response = segments
        if placed:
            try:
                item.response_images = [self.convert._image(self._edited)]  # decoded like prompt images
            except Exception:  # noqa: BLE001 - no or a bad edited image: the row is skipped
                return Skipped("missing_image", item.id, "no readable edited_image for the sandbox output")
        return item
