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


def test_lr_schedule_by_hand():
    from vrl.sft.module import lr_factor

    assert lr_factor(0, warmup=4, decay=10, floor=0.1) == 0.25  # (0+1)/4
    assert lr_factor(3, warmup=4, decay=10, floor=0.1) == 1.0
    assert lr_factor(4, warmup=4, decay=10, floor=0.1) == 1.0  # cosine starts at its peak
    assert abs(lr_factor(9, warmup=4, decay=10, floor=0.1) - 0.55) < 1e-9  # halfway: 0.1 + 0.9 * 0.5
    assert abs(lr_factor(14, warmup=4, decay=10, floor=0.1) - 0.1) < 1e-9
    assert lr_factor(100, warmup=4, decay=0, floor=0.1) == 1.0  # constant after warmup
