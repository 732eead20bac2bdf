"""`hf` rollout engine: batched `model.generate` with the KV cache, on any device.

It samples from the very module being trained, so `sleep`, `wake`, `sync_weights` and `close`
have nothing to do (the `Engine` defaults). An FSDP2-sharded model generates on its full
weights, gathered once per call (`vrl.rollout.full_weights`; on several ranks the RL step holds
them for the whole rollout, so that no rank's generate runs a collective).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from vrl.data.schema import Sample
from vrl.policy.batch import left_pad
from vrl.policy.continuation import Continuation
from vrl.policy.images import ImageCache, PromptEncoding, encode_prompts, row_image_inputs
from vrl.policy.mode import evaluating
from vrl.policy.sampling import Sampling
from vrl.policy.tokens import decode_texts, eos_token_ids, trim_response, vision_token_ids
from vrl.policy.trajectory import Trajectory
from vrl.rollout.base import Engine
from vrl.rollout.full_weights import full_weights


class HFRolloutEngine(Engine):
    """Batched generation with transformers (arguments: `vrl.rollout.base.Engine`)."""

    samples_from_policy = True

    def prompt_encoding(self, processor: Any) -> PromptEncoding | None:
        # The tool loop encodes each turn itself (`vrl.rollout.tool_loop`).
        return None if self.tool_loop is not None else PromptEncoding(processor, self.batch_size)

    def generate_texts(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int, sampling: Sampling
    ) -> list[str]:
        responses: list[str] = []
        for start in range(0, len(samples), self.batch_size):
            batch = list(samples[start : start + self.batch_size])
            inputs = encode_prompts(processor, batch, padding_side="left").to(model.device)
            output, _ = self.generate_ids(
                model, processor, inputs, n, sampling, suppress_vision=False, with_log_probs=False
            )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            responses.extend(processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        return responses

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
        """Each response is cut after its first EOS or stop string (kept: the model is trained
        to emit it); `finished` says whether there was one. The processed prompt images go to
        `image_cache`."""
        trajectories: list[Trajectory] = []
        stop_ids = eos_token_ids(model, processor)
        decode = _decoder(processor)
        for offset in range(0, len(samples), self.batch_size):
            batch = list(samples[offset : offset + self.batch_size])
            inputs = encode_prompts(processor, batch, "left", image_cache).to(model.device)
            output, log_probs = self.generate_ids(model, processor, inputs, n, sampling)
            prompt_width = inputs["input_ids"].shape[1]
            # To Python once per batch, not per row (hundreds of tiny tensor ops a step)
            prompts = [
                [token for token, real in zip(row, mask) if real]
                for row, mask in zip(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist())
            ]
            responses = output[:, prompt_width:].tolist()
            row_log_probs = log_probs.tolist() if log_probs is not None else None
            trimmed = [trim_response(ids, stop_ids, decode, sampling.stop) for ids in responses]
            texts = decode_texts(processor.tokenizer, [response for response, _ in trimmed])
            for row, ((response, finished), text) in enumerate(zip(trimmed, texts)):
                index = row // n
                trajectories.append(
                    Trajectory(
                        prompt_index=offset + index,
                        group_id=first_group_id + offset + index,
                        sample=batch[index],
                        prompt_ids=prompts[index],  # one list for the group's rows (never changed in place)
                        response_ids=response,
                        loss_mask=[1] * len(response),
                        text=text,
                        finished=finished,
                        step=step,
                        sampling_log_probs=row_log_probs[row][: len(response)]
                        if row_log_probs is not None
                        else None,
                    )
                )
        return trajectories

    def continue_trajectories(
        self, model: Any, processor: Any, items: list[tuple[Trajectory, str]], sampling: Sampling
    ) -> list[Continuation]:
        """The input is the trajectory's own `prompt_ids` followed by the prefix text's tokens
        (encoded alone, so `prefix_ids + token_ids` is exactly the continued response), with
        the trajectory's images."""
        tokenizer = processor.tokenizer
        stop_ids = eos_token_ids(model, processor)
        decode = _decoder(processor)
        out: list[Continuation] = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            prefixes = [tokenizer(text, add_special_tokens=False)["input_ids"] for _, text in chunk]
            ids, mask = left_pad(
                [t.prompt_ids + p for (t, _), p in zip(chunk, prefixes)], tokenizer.pad_token_id
            )
            inputs = {"input_ids": ids, "attention_mask": mask}
            inputs.update(row_image_inputs(model, processor, [t.images for t, _ in chunk], ids))
            inputs = {k: v.to(model.device) for k, v in inputs.items()}
            output, log_probs = self.generate_ids(model, processor, inputs, 1, sampling)
            for row, prefix in enumerate(prefixes):
                new, finished = trim_response(
                    output[row, ids.shape[1] :].tolist(), stop_ids, decode, sampling.stop
                )
                out.append(
                    Continuation(
                        text=decode(new),
                        token_ids=new,
                        finished=finished,
                        prefix_ids=prefix,
                        log_probs=_first(log_probs, row, len(new)),
                    )
                )
        return out

    def generate_ids(
        self,
        model: Any,
        processor: Any,
        inputs: Any,
        n: int,
        sampling: Sampling,
        suppress_vision: bool = True,
        with_log_probs: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`[P * n, L + T]`: the P prompt rows of `inputs`, each repeated `n` times, then their new
        tokens (`model.generate`'s layout); and `[P * n, T]` log-probs of the new tokens if the
        engine reports them (`Trajectory.sampling_log_probs`; `generate` here: None). The one
        primitive the decode loop of a subclass replaces; `with_log_probs=False`: the caller wants
        texts only (no log-probs to compute)."""
        return _generate(model, processor, inputs, n, sampling, suppress_vision), None


@torch.no_grad()
def _generate(
    model: Any, processor: Any, inputs: Any, n: int, sampling: Sampling, suppress_vision: bool = True
) -> torch.Tensor:
    """`model.generate` in eval mode with `sampling` (greedy at temperature 0), `n` per prompt.

    Greedy decoding gives every repeat the same tokens, so it generates once per prompt and
    repeats the rows (`generate` refuses `num_return_sequences > 1` without sampling).
    `suppress_vision`: never sample an image placeholder token (a sampled one would break the
    next forward, which matches them to image features)."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "num_return_sequences": 1 if sampling.greedy else n,
        "pad_token_id": processor.tokenizer.pad_token_id,
        "repetition_penalty": sampling.repetition_penalty,
    }
    if sampling.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(
            do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k
        )
    if sampling.stop:
        kwargs.update(stop_strings=list(sampling.stop), tokenizer=processor.tokenizer)
    if suppress_vision and (vision_ids := vision_token_ids(model)):
        kwargs["suppress_tokens"] = vision_ids
    with evaluating(model), full_weights(model):  # FSDP2: gathered once, generate runs no collective
        output = model.generate(**inputs, **kwargs)
    return output.repeat_interleave(n, dim=0) if sampling.greedy and n > 1 else output


def _first(log_probs: torch.Tensor | None, row: int, length: int) -> list[float] | None:
    """The first `length` log-probs of `row` (a trimmed response's), or None without any."""
    return None if log_probs is None else log_probs[row, :length].tolist()


def _decoder(processor: Any) -> Any:
    tokenizer = processor.tokenizer
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=True)
