"""`ToolLoop`: the multi-turn tool loop of a rollout (`rollout.tool_loop`, chosen with `tool=`).

Loop, per prompt x n: generate until the tool's stop string (`</code>`), the answer's
(`</answer>`) or EOS -> run the call -> append `result_open` + the result (its image's tokens,
the image becoming a new image input of the VLM, or text) + `result_close` as environment
tokens (loss mask 0) -> continue from prompt + response so far -> ... until an answer, EOS, or
a limit (`max_turns` generation rounds, `max_images` images in the row, `max_total_tokens`).
With GRPO-ATS (Thyme) text stops at the tool's `call_open` (`<code>`) and the code from there
to the stop is sampled with `code_sampling` (greedy by default).

Every engine runs it the same way (`vrl.rollout.base.Engine`): the first round is the engine's
`sample_trajectories` (batched, n per prompt), later rounds its `continue_trajectories` on the
shadow trajectory "prompt := prompt + response so far, images := all images so far". So the RL
step and the eval stage see one engine whether or not it calls tools. The engine's own
log-probs (`Trajectory.sampling_log_probs`, vLLM) follow each segment and are cut with it; tool
output gets 0.0 (loss mask 0, never compared); a segment without them leaves the whole
trajectory's record None. Simplifications, stated:
- The policy's log-probs of ATS code tokens are computed at the policy temperature like every
  other token (the ratio then compares against a distribution sharper than the sampler's).
- A segment's tokens are kept up to the one that completes a stop string (as HF and vLLM stop).
- Forced rethinking with a tool loop is refused before the run starts (it would re-tokenise
  the tool output and lose its images).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from vrl.data.schema import Sample
from vrl.errors import ConfigError
from vrl.policy.continuation import Continuation
from vrl.policy.sampling import Sampling, check_overrides
from vrl.policy.tokens import cut_at_stop
from vrl.policy.trajectory import Trajectory
from vrl.tool.base import Tool, ToolResult

if TYPE_CHECKING:  # annotations only
    from vrl.policy.images import ImageCache
    from vrl.sandbox import Sandbox

log = logging.getLogger("vrl")

QWEN_IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"


def tool_metrics(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """`tool/calls_per_traj` (mean calls), `tool/error_rate` (failed / all calls, 0 without
    calls), `tool/traj_with_call_frac` (share of trajectories with at least one call)."""
    if not trajectories:
        return {}
    calls = sum(t.tool_calls for t in trajectories)
    return {
        "tool/calls_per_traj": calls / len(trajectories),
        "tool/error_rate": sum(t.tool_errors for t in trajectories) / calls if calls else 0.0,
        "tool/traj_with_call_frac": sum(t.tool_calls > 0 for t in trajectories) / len(trajectories),
    }


class TurnSampler(Protocol):
    """What the loop needs from an engine: its two sampling primitives (`vrl.rollout.base.Engine`)."""

    def sample_trajectories(
        self,
        model: Any,
        processor: Any,
        samples: Sequence[Sample],
        n: int,
        sampling: Sampling,
        step: int,
        first_group_id: int,
        image_cache: ImageCache | None = None,
    ) -> list[Trajectory]: ...

    def continue_trajectories(
        self, model: Any, processor: Any, items: list[tuple[Trajectory, str]], sampling: Sampling
    ) -> list[Continuation]: ...


@dataclasses.dataclass
class _Row:
    """One trajectory in flight."""

    trajectory: Trajectory
    session: str
    kind: str = "text"  # what the next segment is: "text" or "code" (ATS, after `call_open`)
    since_result: str = ""  # policy text since the last tool result (holds the pending call)
    rounds: int = 1  # generation rounds started
    done: bool = False


class ToolLoop:
    """The multi-turn tool loop (see the module docstring).

    Args:
        tool: a `vrl.tool.Tool` (`CodeTool`, `ZoomTool`).
        max_turns: generation rounds per response (V-Thinker 4, DeepEyes 5); at most
            `max_turns - 1` tool calls are executed.
        max_images: images per row, prompt images included (V-Thinker 10); a call past it
            ends the response.
        max_total_tokens: prompt + response tokens; a result or segment past it ends the response.
        answer_stop: generation also stops here; the response is then complete.
        ats: GRPO-ATS: text stops at `tool.call_open`; the code after it is sampled with
            `code_sampling` up to `tool.stop`.
        code_sampling: overrides of the rollout's sampling for ATS code (`vrl.policy.sampling`);
            Thyme samples code greedily.
        image_placeholder: the chat template's text for one image; the processor expands it
            to the image's tokens.
        max_workers: tool calls run in parallel threads (the sandbox has its own workers).
    """

    def __init__(
        self,
        tool: Tool,
        *,
        max_turns: int = 4,
        max_images: int = 10,
        max_total_tokens: int = 8192,
        answer_stop: str = "</answer>",
        ats: bool = False,
        code_sampling: dict[str, Any] | None = None,
        image_placeholder: str = QWEN_IMAGE_PLACEHOLDER,
        max_workers: int = 4,
    ) -> None:
        limits = {"max_turns": max_turns, "max_images": max_images, "max_total_tokens": max_total_tokens}
        for key, value in {**limits, "max_workers": max_workers}.items():
            if value < 1:
                raise ConfigError(f"rollout.tool_loop.{key}={value} must be >= 1")
        self.tool = tool
        self.max_turns, self.max_images, self.max_total_tokens = max_turns, max_images, max_total_tokens
        self.answer_stop = answer_stop
        self.ats = ats
        self.code_sampling = check_overrides(
            "rollout.tool_loop.code_sampling", {"temperature": 0.0, **(code_sampling or {})}
        )  # Thyme's GRPO-ATS samples code greedily unless told otherwise
        self.image_placeholder = image_placeholder
        self.max_workers = max_workers

    def stats(self, trajectories: Sequence[Trajectory]) -> dict[str, float]:
        """`tool/...` metrics of a finished rollout (`tool_metrics`)."""
        return tool_metrics(trajectories)

    def run(
        self,
        engine: TurnSampler,
        model: Any,
        processor: Any,
        samples: Sequence[Sample],
        n: int,
        sampling: Sampling,
        sandbox: Sandbox | None,
        *,
        step: int = 0,
        first_group_id: int = 0,
        image_cache: ImageCache | None = None,
    ) -> list[Trajectory]:
        """`n` multi-turn `Trajectory`s per sample, samples-major: tool-result tokens have loss
        mask 0; `tool_images`, `tool_calls`, `tool_errors` set. `image_cache` goes to the first
        round (the prompts' images); tool images join it at the step's first log-prob pass."""
        text_stops = _stops(
            [self.tool.call_open if self.ats else self.tool.stop, self.answer_stop], sampling.stop
        )
        code_stops = _stops([self.tool.stop], [])
        text_sampling = sampling.override(stop=text_stops)
        code_sampling = sampling.override(stop=code_stops, **self.code_sampling)
        first = engine.sample_trajectories(
            model, processor, samples, n, text_sampling, step, first_group_id, image_cache=image_cache
        )
        rows = [_Row(t, session=f"traj-{uuid.uuid4().hex}") for t in first]
        for row in rows:
            t = row.trajectory
            ids, finished, log_probs = t.response_ids, t.finished, t.sampling_log_probs
            t.response_ids, t.loss_mask = [], []
            t.sampling_log_probs = [] if log_probs is not None else None
            self._absorb(row, ids, finished, processor, text_stops, log_probs)
        with ThreadPoolExecutor(self.max_workers) as pool:
            while True:
                self._run_calls(pool, rows, processor, sandbox)
                active = [r for r in rows if not r.done]
                if not active:
                    break
                for kind, kind_sampling in (("text", text_sampling), ("code", code_sampling)):
                    group = [r for r in active if r.kind == kind]
                    if not group:
                        continue
                    items = [(self._shadow(r), "") for r in group]
                    results = engine.continue_trajectories(model, processor, items, kind_sampling)
                    for row, result in zip(group, results):
                        self._absorb(
                            row,
                            list(result.token_ids),
                            result.finished,
                            processor,
                            list(kind_sampling.stop),
                            getattr(result, "log_probs", None),
                        )
        for row in rows:
            self.tool.close_session(row.session, sandbox)
            t = row.trajectory
            t.text = processor.tokenizer.decode(t.response_ids, skip_special_tokens=True)
        return [r.trajectory for r in rows]

    # -- one round ----------------------------------------------------------------------------

    def _absorb(
        self,
        row: _Row,
        ids: list[int],
        finished: bool,
        processor: Any,
        stops: list[str],
        log_probs: list[float] | None,
    ) -> None:
        """Append one generated segment (loss mask 1; the engine's log-probs of its ids, if it
        reported them for every segment so far) and decide what comes next."""
        tokenizer = processor.tokenizer
        t = row.trajectory
        ids, stop = cut_at_stop(ids, lambda x: tokenizer.decode(x, skip_special_tokens=True), stops)
        room = self.max_total_tokens - len(t.prompt_ids) - len(t.response_ids)
        if len(ids) > room:
            ids, stop, finished = ids[: max(room, 0)], None, False
        t.response_ids += ids
        t.loss_mask += [1] * len(ids)
        # Both cuts keep a prefix of the segment, so its log-probs are cut the same way; one
        # segment without them (or with too few) drops the trajectory's record, never misaligns it.
        if t.sampling_log_probs is not None and log_probs is not None and len(log_probs) >= len(ids):
            t.sampling_log_probs += log_probs[: len(ids)]
        else:
            t.sampling_log_probs = None
        row.since_result += tokenizer.decode(ids, skip_special_tokens=True)
        if stop == self.tool.call_open and self.ats:
            row.kind = "code"
            return
        if stop == self.tool.stop:
            row.kind = "text"
            can_call = row.rounds < self.max_turns and len(t.images) < self.max_images
            row.done, t.finished = not can_call, False
            return
        row.done = True
        t.finished = stop == self.answer_stop or (stop is None and finished)

    def _run_calls(
        self, pool: ThreadPoolExecutor, rows: list[_Row], processor: Any, sandbox: Sandbox | None
    ) -> None:
        """Execute every pending call (a row not done whose text ends a call) and append results."""
        pending = [r for r in rows if not r.done and r.kind == "text" and r.since_result]
        if not pending:
            return
        calls = [r.since_result[max(r.since_result.rfind(self.tool.call_open), 0) :] for r in pending]
        results = list(pool.map(lambda r, c: self._execute(r, c, sandbox), pending, calls))
        for row, result in zip(pending, results):
            t = row.trajectory
            t.tool_calls += 1
            t.tool_errors += int(not result.ok)
            ids = self._result_ids(result, processor)
            if len(t.prompt_ids) + len(t.response_ids) + len(ids) > self.max_total_tokens:
                row.done = True  # no room for the result: the response ends at the call
                continue
            t.response_ids += ids
            t.loss_mask += [0] * len(ids)
            if t.sampling_log_probs is not None:
                t.sampling_log_probs += [0.0] * len(ids)  # environment tokens: never compared
            if result.image is not None:
                t.tool_images.append(result.image)
            row.since_result = ""
            row.rounds += 1

    def _execute(self, row: _Row, call: str, sandbox: Sandbox | None) -> ToolResult:
        try:
            return self.tool.execute(call, row.trajectory.images, row.session, sandbox)
        except ConfigError:
            raise
        except Exception as error:  # noqa: BLE001 - a tool failure is the model's problem, not the run's
            log.warning("tool %s failed on a call: %s", self.tool.name, error)
            return ToolResult(text=f"Error: {type(error).__name__}", error=str(error))

    def _result_ids(self, result: ToolResult, processor: Any) -> list[int]:
        """Token ids of a result: the open tag, the image's expanded tokens (or the text), the close tag."""
        if result.image is None:
            text = f"{self.tool.result_open}{result.text}{self.tool.result_close}"
            return processor.tokenizer(text, add_special_tokens=False)["input_ids"]
        text = f"{self.tool.result_open}{self.image_placeholder}{self.tool.result_close}"
        encoded = processor(text=[text], images=[result.image.convert("RGB")], return_tensors="pt")
        return encoded["input_ids"][0].tolist()

    @staticmethod
    def _shadow(row: _Row) -> Trajectory:
        """The continuation request: everything so far as the prompt, with all its images."""
        t = row.trajectory
        return Trajectory(
            prompt_index=t.prompt_index,
            group_id=t.group_id,
            sample=dataclasses.replace(t.sample, images=t.images),
            prompt_ids=t.prompt_ids + t.response_ids,
            response_ids=[],
            loss_mask=[],
            text="",
            finished=False,
        )


def _stops(own: Sequence[str], configured: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(s for s in [*own, *configured] if s))
