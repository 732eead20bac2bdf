"""Auxiliary NLL (supervised) loss on selected responses (VL-Rethinker: coef 0.05).

VL-Rethinker adds a plain negative log-likelihood term on responses that were rewarded
(A > 0) and re-examine themselves (contain a rethinking cue), to imprint the rethinking
pattern faster than the policy gradient alone would. `nll_selection` builds the `[B]`
selection from texts + advantages; `masked_nll` is the loss on those rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vrl.answer.cues import RETHINK_CUES, count_cues


def nll_selection(
    texts: Sequence[str], advantages: torch.Tensor, cues: Sequence[str] = RETHINK_CUES
) -> torch.Tensor:
    """`[B]` bool: advantage > 0 and at least one rethinking cue in the response text.

    Args:
        texts: B decoded responses.
        advantages: `[B]` (or `[B, T]`: the first token's value is used).
        cues: lower-case substrings that count as rethinking (see `vrl.answer.cues`).
    """
    per_seq = advantages if advantages.dim() == 1 else advantages[:, 0]
    if len(texts) != per_seq.shape[0]:
        raise ValueError(f"{len(texts)} texts for {per_seq.shape[0]} advantages")
    # Cues are looked for only where the advantage is positive (the rest are not selected anyway).
    positive = (per_seq > 0).tolist()
    selected = [bool(up) and count_cues(text, cues) > 0 for up, text in zip(positive, texts)]
    return torch.tensor(selected, dtype=torch.bool, device=per_seq.device)


def masked_nll(
    log_probs: torch.Tensor,
    mask: torch.Tensor,
    selected: torch.Tensor,
    *,
    global_token_count: int | float | None = None,
) -> torch.Tensor:
    """Token-mean NLL over the policy tokens of the selected responses: scalar nats/token.

    Args:
        log_probs: `[B, T]` log pi_theta of the response tokens, with gradient.
        mask: `[B, T]` 1 for policy tokens.
        selected: `[B]` bool, rows that get the loss (from `nll_selection`).
        global_token_count: selected tokens in the whole optimizer step when micro-batching
            (default: this batch's).

    Returns:
        Scalar; 0 (still attached to the graph) when nothing is selected.
    """
    weights = mask.to(log_probs.dtype) * selected.to(log_probs.dtype).unsqueeze(-1)
    total = -(log_probs * weights).sum()
    if global_token_count is None:
        return total / weights.sum().clamp(min=1.0)
    return total / max(float(global_token_count), 1.0)
