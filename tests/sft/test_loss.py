import math

import torch

from vrl.sft.loss import masked_token_nll


def _case():
    # B=1, T=3, V=2; position t predicts token t+1.
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [5.0, 5.0]]], requires_grad=True)
    input_ids = torch.tensor([[0, 1, 0]])
    return logits, input_ids


def test_mean_over_masked_targets_by_hand():
    logits, ids = _case()
    # target 1 from uniform logits: -ln(1/2) = 0.693147; target 0 from [ln3, 0]: -ln(3/4) = 0.287682
    loss = masked_token_nll(logits, ids, torch.tensor([[0, 1, 1]]))
    assert abs(loss.item() - (0.693147 + 0.287682) / 2) < 1e-5


def test_masked_out_tokens_do_not_count():
    logits, ids = _case()
    loss = masked_token_nll(logits, ids, torch.tensor([[0, 0, 1]]))
    assert abs(loss.item() - 0.287682) < 1e-5
    loss.backward()
    assert logits.grad[0, 0].abs().sum() == 0, "a masked-out target must get no gradient"


def test_nothing_masked_in_is_zero_not_nan():
    logits, ids = _case()
    loss = masked_token_nll(logits, ids, torch.zeros(1, 3, dtype=torch.long))
    assert loss.item() == 0.0
