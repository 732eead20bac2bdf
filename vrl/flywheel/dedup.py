"""De-duplication of proposed knowledge points and tools: embeddings, or character n-grams without a model.

`TextEncoder(model_name)` loads a sentence-transformers model, or any HF encoder (mean-pooled
last hidden state), from a hub id or a local dir; when none is named or it cannot load here
(no hub, no weights) the de-duplicator falls back to character n-gram Jaccard similarity, and
says so in the log. A new text is a duplicate when its similarity to anything kept is >= threshold.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("vrl")


def char_ngrams(text: str, n: int = 3) -> frozenset[str]:
    """Character n-grams of the lower-cased, whitespace-normalised text (the lexical fingerprint)."""
    text = " ".join(text.lower().split())
    return frozenset(text[i : i + n] for i in range(max(1, len(text) - n + 1)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b| in [0, 1] (1 for two empty sets)."""
    return len(a & b) / len(a | b) if a or b else 1.0


class TextEncoder:
    """Sentence embeddings from `model_name` (hub id or local dir), L2-normalised; `None` = unavailable.

    Args:
        model_name: a sentence-transformers or HF encoder model; null = lexical only.
        device: torch device for the encoder.
        batch_size: texts per forward pass.
    """

    def __init__(self, model_name: str | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        self.model_name, self.device, self.batch_size = model_name, device, batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self.available = False
        if model_name:
            self._load()

    def _load(self) -> None:
        try:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            self._model = AutoModel.from_pretrained(self.model_name).to(self.device).eval()
            self.available = True
        except (OSError, ValueError, ImportError) as error:
            log.warning(
                "flywheel dedup: encoder %s unavailable (%s); using character n-gram Jaccard",
                self.model_name,
                type(error).__name__,
            )

    def encode(self, texts: list[str]):
        """[len(texts), hidden] float tensor of unit vectors (mean over non-padding tokens)."""
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(
                    texts[start : start + self.batch_size], padding=True, truncation=True, return_tensors="pt"
                ).to(self.device)
                hidden = self._model(**batch).last_hidden_state  # [b, t, h]
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [b, t, 1]
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out) if out else torch.zeros(0, 1)


class Deduplicator:
    """Keeps texts whose similarity to every kept text is below `threshold`.

    Args:
        encoder: a `TextEncoder`; when unavailable (or null) the lexical path is used.
        threshold: cosine similarity (embeddings) at or above which a text is a duplicate.
        lexical_threshold: character 3-gram Jaccard at or above which a text is a duplicate.
    """

    def __init__(
        self, encoder: TextEncoder | None = None, threshold: float = 0.95, lexical_threshold: float = 0.95
    ) -> None:
        self.encoder, self.threshold, self.lexical_threshold = encoder, threshold, lexical_threshold

    @property
    def method(self) -> str:
        return "embedding" if self.encoder is not None and self.encoder.available else "lexical"

    def filter(self, existing: list[str], new: list[str]) -> list[int]:
        """Indices of `new` to keep: not a near-duplicate of `existing` nor of an earlier kept one."""
        if self.method == "embedding":
            return self._filter_embedding(existing, new)
        kept_grams = [char_ngrams(t) for t in existing]
        exact = set(existing)
        keep = []
        for i, text in enumerate(new):
            grams = char_ngrams(text)
            if text in exact or any(jaccard(grams, g) >= self.lexical_threshold for g in kept_grams):
                continue
            keep.append(i)
            kept_grams.append(grams)
            exact.add(text)
        return keep

    def _filter_embedding(self, existing: list[str], new: list[str]) -> list[int]:
        import torch

        vectors = self.encoder.encode(list(existing) + list(new))
        kept = list(range(len(existing)))
        keep = []
        for i in range(len(new)):
            v = vectors[len(existing) + i]
            if kept and float(torch.max(vectors[kept] @ v)) >= self.threshold:
                continue
            keep.append(i)
            kept.append(len(existing) + i)
        return keep
