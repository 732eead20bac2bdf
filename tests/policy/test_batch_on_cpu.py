"""Trajectories -> policy tensors, and response log-probs, checked by hand on a fake model."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from vrl.data.schema import Sample
from vrl.policy.batch import left_pad
from vrl.policy.log_probs import policy_inputs, response_log_probs, response_logits, token_log_probs
from vrl.policy.tokens import cut_before_vision, decode_texts, trim_at_eos, trim_response
from vrl.policy.trajectory import Trajectory

VOCAB, PAD, IMAGE = 16, 0, 9


class NextIsPlusOne(torch.nn.Module):
    """Logits at position j: 10 on token input_ids[j] + 1, 0 elsewhere (`logits_to_keep` honoured)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(image_token_id=IMAGE)
        self.seen: dict = {}

    def forward(self, input_ids, attention_mask, logits_to_keep=0, use_cache=False, **images):
        self.seen = {"input_ids": input_ids, "attention_mask": attention_mask, **images}
        logits = 10.0 * torch.nn.functional.one_hot((input_ids + 1) % VOCAB, VOCAB).float() + self.weight
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


class Processor:
    tokenizer = SimpleNamespace(pad_token_id=PAD)


def _trajectory(prompt, response, mask=None, sample=None):
    sample = sample or Sample(id="x", images=[], prompt=[], answer="1", answer_type="integer")
    return Trajectory(0, 0, sample, list(prompt), list(response), mask or [1] * len(response), "", True)


HIT = 10.0 - math.log(math.exp(10.0) + VOCAB - 1)  # log-prob of the favoured token
MISS = 0.0 - math.log(math.exp(10.0) + VOCAB - 1)


def test_left_pad():
    ids, mask = left_pad([[1, 2, 3], [4]], PAD)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_a_response_is_cut_before_its_first_image_placeholder():
    # vLLM samples them (the hf engine forbids them): the trainer's forward would then find
    # one more image token than image features ("tokens: 33, features: 32").
    assert cut_before_vision([5, 7, IMAGE, 3, IMAGE], {IMAGE, 10}) == ([5, 7], True)
    assert cut_before_vision([10, 5], {IMAGE, 10}) == ([], True)
    assert cut_before_vision([5, 7, 3], {IMAGE, 10}) == ([5, 7, 3], False)
    assert cut_before_vision([], {IMAGE}) == ([], False)


def test_trim_at_eos_keeps_the_eos_and_drops_padding():
    assert trim_at_eos([5, 7, 2, 0, 0], {2, 0}) == ([5, 7, 2], True)
    assert trim_at_eos([5, 7, 8], {2}) == ([5, 7, 8], False)
    assert trim_at_eos([2, 5], {2}) == ([2], True)


def test_policy_inputs_layout_masks_and_image_tokens():
    model = NextIsPlusOne()
    trajs = [_trajectory([3, IMAGE, 4], [5, 6], mask=[1, 0]), _trajectory([4], [5, 6, 7])]
    batch, inputs = policy_inputs(model, Processor(), trajs)
    # prompts left-padded to P=3, responses right-padded to T=3
    assert batch.prompt_length == 3
    assert inputs["input_ids"].tolist() == [[3, IMAGE, 4, 5, 6, PAD], [PAD, PAD, 4, 5, 6, 7]]
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1]]
    assert inputs["mm_token_type_ids"].tolist() == [[0, 1, 0, 0, 0, 0], [0] * 6]
    assert batch.loss_mask.tolist() == [[1, 0, 0], [1, 1, 1]]
    assert batch.response_mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert "pixel_values" not in inputs  # no images in these samples


def test_response_log_prob_of_token_t_uses_logits_at_prompt_len_plus_t_minus_1():
    model = NextIsPlusOne()
    # prompt [3, 4]: response token 0 is scored by the logits after 4 (favouring 5),
    # token 1 by the logits after token 0, and so on.
    trajs = [_trajectory([3, 4], [5, 6, 8]), _trajectory([1, 2, 3], [7, 8])]
    batch, inputs = policy_inputs(model, Processor(), trajs)
    logits = response_logits(model, inputs, batch)
    assert logits.shape == (2, 3, VOCAB)
    log_probs, entropy = token_log_probs(logits, batch.response_ids, with_entropy=True)
    expected = [[HIT, HIT, MISS], [MISS, HIT]]
    assert log_probs[0].tolist() == pytest.approx(expected[0], abs=1e-5)
    assert log_probs[1, :2].tolist() == pytest.approx(expected[1], abs=1e-5)
    assert entropy.shape == (2, 3)
    # the no-grad helper returns ragged rows, one value per real response token
    rows = response_log_probs(model, Processor(), trajs, micro_batch_size=1)
    assert [len(r) for r in rows] == [3, 2]
    assert rows[0] == pytest.approx(expected[0], abs=1e-5)
    assert rows[1] == pytest.approx(expected[1], abs=1e-5)


def test_temperature_scales_the_logits():
    logits = torch.tensor([[[2.0, 0.0]]])
    log_probs, _ = token_log_probs(logits, torch.tensor([[0]]), temperature=2.0)
    assert log_probs.item() == pytest.approx(1.0 - math.log(math.e + 1.0), abs=1e-6)


def test_trim_response_cuts_after_a_stop_string_before_padding():
    decode = lambda ids: "".join("abcdefgh"[i] for i in ids)  # noqa: E731  (0 = "a" = pad = EOS)
    assert trim_response([2, 3, 4, 0, 0], {0}, decode, ["cd"]) == ([2, 3], True)
    assert trim_response([2, 3, 4, 0, 0], {0}, decode, []) == ([2, 3, 4, 0], True)
    assert trim_response([2, 5, 4, 1], {0}, decode, ["cd"]) == ([2, 5, 4, 1], False)
    assert trim_response([2, 0, 3, 4], {0}, decode, ["cd"]) == ([2, 0], True)  # EOS came first


def test_decode_texts_is_the_tokenizers_decode_of_each_row(tiny):
    """One batch call of the Rust backend where that is the tokenizer's own decode (no space
    clean-up), the row-by-row decode otherwise; special tokens skipped either way."""
    tokenizer = tiny.processor.tokenizer
    assert tokenizer.clean_up_tokenization_spaces is False  # the fast path is taken
    generator = torch.Generator().manual_seed(0)
    specials = sorted(tokenizer.all_special_ids)
    rows = [torch.randint(0, len(tokenizer), (n,), generator=generator).tolist() for n in (0, 1, 5, 40)]
    rows.append([specials[0], *rows[2], specials[-1]])
    expected = [tokenizer.decode(row, skip_special_tokens=True) for row in rows]
    assert decode_texts(tokenizer, rows) == expected
    assert expected[-1] == expected[2]  # the specials were dropped

    class CleaningUp:  # a tokenizer whose decode cleans up spaces: its own decode, row by row
        clean_up_tokenization_spaces = True
        backend_tokenizer = tokenizer.backend_tokenizer

        def decode(self, row, skip_special_tokens):
            return f"<{len(row)}>"

    assert decode_texts(CleaningUp(), rows) == [f"<{len(row)}>" for row in rows]


def test_decode_texts_decodes_a_row_once_per_tokenizer(monkeypatch):
    """Rows seen before come from the memo (the backend decodes only new rows, each once, even
    when repeated in one call); another tokenizer object has its own; the memo is bounded."""
    import vrl.policy.tokens as tokens

    class Counting:
        clean_up_tokenization_spaces = True

        def __init__(self, mark):
            self.mark, self.calls = mark, []

        def decode(self, row, skip_special_tokens):
            self.calls.append(tuple(row))
            return self.mark + ",".join(map(str, row))

    first, second = Counting("a:"), Counting("b:")
    assert decode_texts(first, [[1, 2], [3], [1, 2]]) == ["a:1,2", "a:3", "a:1,2"]
    assert first.calls == [(1, 2), (3,)]
    assert decode_texts(first, [[3], [4], [1, 2]]) == ["a:3", "a:4", "a:1,2"]
    assert first.calls == [(1, 2), (3,), (4,)]
    assert decode_texts(second, [[3]]) == ["b:3"]  # its own memo, not the first one's texts
    monkeypatch.setattr(tokens, "_MEMO_ROWS", 4)
    decode_texts(first, [[5], [6]])  # 3 remembered + 2 new > 4: forgotten, then these two kept
    assert decode_texts(first, [[5], [3]]) == ["a:5", "a:3"]
    assert first.calls[-3:] == [(5,), (6,), (3,)]
