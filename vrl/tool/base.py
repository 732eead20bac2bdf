"""What a tool is: the text that calls it, how it runs, and what it hands back.

A multi-turn rollout (`vrl.rollout.multiturn.MultiTurnRollout`) generates until `tool.stop`;
the segment from the last `tool.call_open` to `stop` is the call. `execute` runs it and
returns a `ToolResult`; the loop appends `result_open` + (the result image's tokens, or its
text) + `result_close` to the response as environment tokens (loss mask 0) and continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image


@dataclass
class ToolResult:
    """What one call gave back: an image for the model to look at, else text.

    Attributes:
        text: text shown to the model when there is no image (program output, error message).
        image: an image appended as a new image input of the VLM (None = text only).
        error: why the call failed (unparseable call, sandbox error, invalid box); None = it
            worked. Counted in `Trajectory.tool_errors` (`code_exec` reward, `tool/error_rate`).
    """

    text: str = ""
    image: Image.Image | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Tool(Protocol):
    """One tool format (`CodeTool`: V-Thinker/Thyme; `ZoomTool`: DeepEyes).

    Attributes:
        name: short name for logs.
        call_open: the string that opens a call (`<code>`); GRPO-ATS samples from it to `stop`
            at the code temperature.
        stop: the string that closes a call (`</code>`); generation stops there.
        result_open, result_close: the text around a result (`<sandbox_output>` ...).
        needs_sandbox: True when `execute` runs code in the `sandbox` it is given.
    """

    name: str
    call_open: str
    stop: str
    result_open: str
    result_close: str
    needs_sandbox: bool

    def execute(
        self, call: str, images: Sequence[Image.Image], session_id: str, sandbox: Any = None
    ) -> ToolResult:
        """Run one call. `call` is the generated text from `call_open` to `stop` inclusive;
        `images` are the trajectory's images so far (prompt images first, then tool outputs);
        `session_id` is stable for one trajectory (variables persist across its calls when the
        sandbox is persistent). Never raises for a bad call: that is a `ToolResult` error."""
        ...

    def close_session(self, session_id: str, sandbox: Any = None) -> None:
        """Forget the trajectory's state (its sandbox session)."""
        ...
