"""`fast` rollout engine: the `hf` engine with vrl's own KV-cached decode loop.

Everything but the decode loop is the `hf` engine's (prompt encoding, the image cache, trimming,
continuations, the tool loop): only `generate_ids` differs, `vrl.policy.fast_decode.sample_tokens`
in place of `model.generate` (prefill once per prompt, a preallocated cache, one token per row
through the decoder's own modules). For Qwen2.5-VL models (the embedded default's tiny model, a
real one on a GPU); a model the loop cannot decode (another architecture, FSDP2-sharded
blocks) is decoded with `generate`, as `rollout=hf` would, after one warning line saying why.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from vrl.policy.fast_decode import DecoderParts, decoder_parts, sample_tokens
from vrl.policy.mode import evaluating
from vrl.policy.sampling import Sampling
from vrl.policy.tokens import eos_token_ids, vision_token_ids
from vrl.rollout.hf import HFRolloutEngine

log = logging.getLogger(__name__)


class FastRolloutEngine(HFRolloutEngine):
    """The `hf` engine, decoding with `sample_tokens` (arguments: `vrl.rollout.base.Engine`).

    Its `sampling_log_probs` are the trainer's own old log-probs: the policy module itself, at
    its current weights, in eval mode, each token scored under the unprocessed logits at the
    run's temperature (`self.sampling.temperature`, the one the loss uses): the numbers
    `vrl.policy.log_probs.response_log_probs` gives, to float rounding
    (tests/rollout/test_hf_engine_on_cpu.py). So the RL step takes them as `old_log_probs` and
    skips its old-log-prob forward for them (`reports_policy_log_probs`). A model decoded with
    `generate` instead reports none."""

    reports_policy_log_probs = True

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
        parts = decoder_parts(model)
        if not isinstance(parts, DecoderParts):
            if getattr(self, "_told", None) != parts:
                log.warning(
                    "rollout=fast: %s; decoding it with transformers' generate (as rollout=hf)", parts
                )
                self._told = parts
            return super().generate_ids(
                model, processor, inputs, n, sampling, suppress_vision, with_log_probs
            )
        with evaluating(model):
            return sample_tokens(
                parts,
                model,
                dict(inputs),
                n,
                sampling,
                pad_token_id=processor.tokenizer.pad_token_id,
                eos_token_ids=eos_token_ids(model, processor),
                suppress_token_ids=vision_token_ids(model) if suppress_vision else (),
                tokenizer=processor.tokenizer,
                # eval's texts need none: no log-softmax per step there
                log_prob_temperature=None
                if self.sampling.greedy or not with_log_probs
                else self.sampling.temperature,
            )
