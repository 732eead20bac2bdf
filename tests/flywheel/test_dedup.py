"""De-duplication: the lexical fallback, and the embedding path with a tiny encoder built here."""

from __future__ import annotations

import pytest

from vrl.flywheel.dedup import Deduplicator, TextEncoder, char_ngrams, jaccard


def test_jaccard_of_char_ngrams_by_hand():
    a, b = char_ngrams("abcd"), char_ngrams("abce")  # {abc, bcd} vs {abc, bce}
    assert a == {"abc", "bcd"} and jaccard(a, b) == pytest.approx(1 / 3)
    assert char_ngrams("A  b") == char_ngrams("a b")  # case and spacing do not matter


def test_lexical_filter_drops_exact_and_near_duplicates_in_and_against_the_pool():
    dedup = Deduplicator(TextEncoder(None), lexical_threshold=0.8)
    assert dedup.method == "lexical"
    existing = ["counting circles arranged in a row"]
    new = [
        "Counting circles arranged in a row.",  # near-duplicate of the pool
        "which bar of the chart is the tallest",
        "which bar of the chart is the tallest",  # duplicate within the batch
        "colour of the triangle among distractors",
    ]
    assert dedup.filter(existing, new) == [1, 3]


def test_an_encoder_that_cannot_load_falls_back_to_lexical(tmp_path, caplog):
    encoder = TextEncoder(str(tmp_path / "no-such-model"))
    assert not encoder.available
    assert Deduplicator(encoder).method == "lexical"
    assert "unavailable" in caplog.text


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory):
    """A 2-layer BERT with random weights and a word-level tokenizer, saved like a hub model."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = (
        "count counting circles squares in a row which bar chart is the tallest colour of triangle".split()
    )
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path_factory.mktemp("encoder")
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]").save_pretrained(
        path
    )
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    BertModel(config).save_pretrained(path)
    return str(path)


def test_embedding_path_with_a_tiny_local_encoder(tiny_encoder_dir):
    encoder = TextEncoder(tiny_encoder_dir)
    assert encoder.available
    vectors = encoder.encode(["count circles", "which bar is the tallest"])
    assert tuple(vectors.shape) == (2, 32)
    assert vectors.norm(dim=-1).tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    dedup = Deduplicator(encoder, threshold=0.999999)
    assert dedup.method == "embedding"
    # Identical texts embed identically (a duplicate); different texts differ under a strict threshold.
    assert dedup.filter(
        ["count circles"], ["count circles", "which bar is the tallest", "which bar is the tallest"]
    ) == [1]
