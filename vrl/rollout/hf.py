"""`hf` rollout engine: batched `model.generate` with the KV cache, on any device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from vrl.data.schema import Sample
from vrl.policy.images import encode_prompts
from vrl.policy.tokens import eos_token_ids, trim_response, vision_token_ids

if TYPE_CHECKING:
    from vrl.policy.continuation import Continuation, ContinueFn
    from vrl.policy.trajectory import Trajectory


class HFRolloutEngine:
    """Batched generation with transformers.

    Args:
        batch_size: prompts per `generate` call (each expanded `n` times).
        max_new_tokens: response length cap, in tokens.
        temperature: 0 = greedy decoding.
        top_p, top_k, repetition_penalty: the usual sampling knobs (top_k 0 = off).
        stop: extra stop strings (generation also stops at the tokenizer's EOS).
    """

    def __init__(
        self,
        batch_size: int = 16,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        repetition_penalty: float = 1.0,
        stop: list[str] | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.last_stats: dict[str, float] = {}  # a single-turn engine has nothing of its own to report
        self.defaults = {
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k,
            "repetition_penalty": repetition_penalty,
            "stop": list(stop or []),
        }

    # -- engine lifecycle: the RL step calls these around training (no-ops here: this engine
    #    samples from the trained module itself, so there is nothing to free or copy) ----------

    def sleep(self) -> None:
        """Nothing to free: generation uses the trainer's own weights."""

    def sync_weights(self, model: Any) -> int:
        """Nothing to copy (the engine shares the trainer's module); returns 0 tensors sent."""
        return 0

    def generate(
        self, model: Any, processor: Any, samples: Sequence[Sample], n: int = 1, **sampling: Any
    ) -> list[str]:
        """One response per (sample, repeat), samples-major. `sampling` overrides the defaults."""
        settings = {**self.defaults, **{k: v for k, v in sampling.items() if v is not None}}
        responses: list[str] = []
        for start in range(0, len(samples), self.batch_size):
            batch = list(samples[start : start + self.batch_size])
            responses.extend(self._generate_batch(model, processor, batch, n, settings))
        return responses

    @torch.no_grad()
    def _generate_batch(
        self, model: Any, processor: Any, batch: list[Sample], n: int, settings: dict[str, Any]
    ) -> list[str]:
        inputs = encode_prompts(processor, batch, padding_side="left").to(model.device)
        greedy = settings["temperature"] <= 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": settings["max_new_tokens"],
            "do_sample": not greedy,
            "num_return_sequences": n,
            "pad_token_id": processor.tokenizer.pad_token_id,
            "repetition_penalty": settings["repetition_penalty"],
        }
        if not greedy:
            kwargs.update(
                temperature=settings["temperature"], top_p=settings["top_p"], top_k=settings["top_k"]
            )
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if settings["stop"]:
            kwargs.update(stop_strings=settings["stop"], tokenizer=processor.tokenizer)
        was_training = model.training
        model.eval()
        output = model.generate(**inputs, **kwargs)
        model.train(was_training)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    # -- RL: trajectories with token ids and sampling log-probs ------------------------------

    def rollout(
        self,
        model: Any,
        processor: Any,
        samples: Sequence[Sample],
        n: int = 1,
        *,
        step: int = 0,
        first_group_id: int = 0,
        micro_batch_size: int = 8,
        with_log_probs: bool = True,
        **sampling: Any,
    ) -> list[Trajectory]:
        """`n` sampled `Trajectory`s per sample, samples-major, with `old_log_probs` filled.

        Prompt `i` of `samples` becomes group `first_group_id + i` (`prompt_index` i). Each
        response is cut after its first EOS (kept: the model is trained to emit it);
        `finished` says whether there was one. `old_log_probs` are recomputed by a forward
        pass of the policy in eval mode over prompt + response with temperature-scaled
        logits: the distribution PPO's ratio compares against (top-p/top-k truncation is not
        modelled, as in verl). `micro_batch_size` bounds that forward pass;
        `with_log_probs=False` leaves them None for the caller to compute (and time).
        """
        from vrl.policy.log_probs import response_log_probs

        settings = {**self.defaults, **{k: v for k, v in sampling.items() if v is not None}}
        if settings["temperature"] <= 0 and with_log_probs:  # greedy trajectories have no log-probs
            raise ValueError("RL rollouts must sample: set a temperature > 0")
        trajectories: list[Trajectory] = []
        for start in range(0, len(samples), self.batch_size):
            batch = list(samples[start : start + self.batch_size])
            trajectories.extend(
                self._rollout_batch(model, processor, batch, n, settings, start, first_group_id, step)
            )
        if with_log_probs:
            log_probs = response_log_probs(
                model, processor, trajectories, settings["temperature"], micro_batch_size
            )
            for trajectory, values in zip(trajectories, log_probs):
                trajectory.old_log_probs = values
        return trajectories

    @torch.no_grad()
    def _rollout_batch(
        self,
        model: Any,
        processor: Any,
        batch: list[Sample],
        n: int,
        settings: dict[str, Any],
        offset: int,
        first_group_id: int,
        step: int,
    ) -> list[Trajectory]:
        from vrl.policy.trajectory import Trajectory

        inputs = encode_prompts(processor, batch, padding_side="left").to(model.device)
        output = self._sample(model, processor, inputs, n, settings, settings["temperature"])
        prompt_width = inputs["input_ids"].shape[1]
        stop_ids = eos_token_ids(model, processor)
        decode = lambda ids: processor.tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
        trajectories = []
        for row in range(output.shape[0]):
            index = row // n
            prompt = inputs["input_ids"][index][inputs["attention_mask"][index].bool()].tolist()
            response, finished = trim_response(
                output[row, prompt_width:].tolist(), stop_ids, decode, settings["stop"]
            )
            trajectories.append(
                Trajectory(
                    prompt_index=offset + index,
                    group_id=first_group_id + offset + index,
                    sample=batch[index],
                    prompt_ids=prompt,
                    response_ids=response,
                    loss_mask=[1] * len(response),
                    text=processor.tokenizer.decode(response, skip_special_tokens=True),
                    finished=finished,
                    step=step,
                )
            )
        return trajectories

    def _sample(
        self, model: Any, processor: Any, inputs: Any, n: int, settings: dict[str, Any], temperature: float
    ) -> torch.Tensor:
        kwargs: dict[str, Any] = {
            "max_new_tokens": settings["max_new_tokens"],
            "num_return_sequences": n,
            "pad_token_id": processor.tokenizer.pad_token_id,
            "repetition_penalty": settings["repetition_penalty"],
        }
        if temperature > 0:
            kwargs.update(
                do_sample=True, temperature=temperature, top_p=settings["top_p"], top_k=settings["top_k"]
            )
        else:  # greedy (e.g. a deterministic continuation)
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if settings["stop"]:
            kwargs.update(stop_strings=settings["stop"], tokenizer=processor.tokenizer)
        if vision_ids := vision_token_ids(model):
            kwargs["suppress_tokens"] = vision_ids  # a sampled image placeholder would break the next forward
        was_training = model.training
        model.eval()
        try:
            return model.generate(**inputs, **kwargs)
        finally:
            model.train(was_training)

    def continue_fn(self, model: Any, processor: Any, **sampling: Any) -> ContinueFn:
        """A `vrl.rethink.base.ContinueFn` over this model: generate after prompt + prefix.

        The input is the trajectory's own `prompt_ids` followed by the prefix text's tokens
        (encoded alone, so `prefix_ids + token_ids` is exactly the rethought response), with
        the sample's images.
        """
        settings = {**self.defaults, **{k: v for k, v in sampling.items() if v is not None}}

        def continue_prefixes(items: list[tuple[Trajectory, str]], temperature: float) -> list[Continuation]:
            out: list[Continuation] = []
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                out.extend(self._continue_batch(model, processor, chunk, settings, temperature))
            return out

        return continue_prefixes

    @torch.no_grad()
    def _continue_batch(
        self,
        model: Any,
        processor: Any,
        items: list[tuple[Trajectory, str]],
        settings: dict[str, Any],
        temperature: float,
    ) -> list[Continuation]:
        from vrl.policy.batch import left_pad
        from vrl.policy.continuation import Continuation
        from vrl.policy.images import row_image_inputs

        tokenizer = processor.tokenizer
        prefixes = [tokenizer(text, add_special_tokens=False)["input_ids"] for _, text in items]
        ids, mask = left_pad([t.prompt_ids + p for (t, _), p in zip(items, prefixes)], tokenizer.pad_token_id)
        inputs = {"input_ids": ids, "attention_mask": mask}
        inputs.update(row_image_inputs(model, processor, [t.images for t, _ in items], ids))
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        output = self._sample(model, processor, inputs, 1, settings, temperature)
        stop_ids = eos_token_ids(model, processor)
        results = []
        for row, prefix in enumerate(prefixes):
            new, finished = trim_response(
                output[row, ids.shape[1] :].tolist(),
                stop_ids,
                lambda x: tokenizer.decode(x, skip_special_tokens=True),
                settings["stop"],
            )
            text = tokenizer.decode(new, skip_special_tokens=True)
            results.append(Continuation(text=text, token_ids=new, finished=finished, prefix_ids=prefix))
        return results
