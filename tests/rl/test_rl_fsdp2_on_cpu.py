"""The RL step on 2 ranks under FSDP2 (`vrl.trainer.FSDP2Strategy`: `fully_shard` over gloo, 2
real processes, hf rollouts on full weights gathered once: `vrl.rollout.full_weights`): the
update equals one unsharded process's on the same rollouts, ranks roll out different prompts,
and a world-size-2 checkpoint resumes to the uninterrupted weights. The workers are the DDP
tests' (`ddp_worker.py`) with VRL_TEST_STRATEGY=fsdp2; weights and gradients are gathered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from vrl_testing import assert_logged_grad_norm_is_the_global_one, run_ranks

pytestmark = [pytest.mark.ddp, pytest.mark.slow]
WORKER = Path(__file__).with_name("ddp_worker.py")
FSDP2 = {"VRL_TEST_STRATEGY": "fsdp2"}


def test_two_fsdp2_ranks_on_fixed_rollouts_update_like_one_process(tiny_dir, train_dir, tmp_path):
    """Same 16 scored responses, mini-batches of 7 (7 + 7 + 2: three optimizer steps). Rank 0
    trains on 4 rows of a 7-row mini-batch (2 micro-batches of 3), rank 1 on 3 (1 micro-batch,
    plus a zero-weighted one so that both run the same FSDP2 collectives). The gathered
    gradients and weights equal one plain process's on all 16."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    args = [str(tiny_dir), str(train_dir)]
    # Both on the stock forward per row (FSDP2's update runs it: it shares no prompts), so the
    # fixed batch's old log-probs and the update differ by FSDP2's rounding alone.
    stock = {"VRL_TEST_STOCK_FORWARD": "1"}
    run_ranks(WORKER, ["grad", *args, str(one), "7"], size=1, env=stock)
    run_ranks(WORKER, ["grad", *args, str(two), "7"], size=2, env=FSDP2 | stock)
    reference = torch.load(one / "grads_rank0.pt")
    rank0, rank1 = torch.load(two / "grads_rank0.pt"), torch.load(two / "grads_rank1.pt")
    assert reference.shape[0] == rank0.shape[0] == 3
    assert torch.equal(rank0, rank1), "both ranks gather the same global gradient"
    assert reference.abs().max() > 1e-4, "the fixed batch must carry a gradient"
    scale = reference.abs().max().item()
    grad_diff = (rank0 - reference).abs().max().item()
    assert grad_diff <= 1e-5 * max(1.0, scale), grad_diff
    assert_logged_grad_norm_is_the_global_one(one, two, reference)
    # Weights: AdamW's first step is g / (|g| + 1e-8), so a gradient of ~1e-8 moves its weight by
    # a different fraction of lr under a float-rounding difference in g: the weights agree to
    # float tolerance almost everywhere and within a small fraction of one update everywhere.
    weights = [torch.load(d / "weights_rank0.pt") for d in (one, two)]
    assert torch.equal(torch.load(two / "weights_rank1.pt"), weights[1]), "both ranks gather one model"
    update = (weights[0] - torch.load(one / "initial_weights.pt")).abs().max().item()
    weight_diff = (weights[1] - weights[0]).abs()
    off = (weight_diff > 1e-5).float().mean().item()
    print(
        f"FSDP2 2 ranks vs 1 process, mini_batch_size=7: max |grad diff| = {grad_diff:.3g} (max |grad| "
        f"{scale:.3g}); weights after 3 AdamW steps: max |diff| = {weight_diff.max().item():.3g} (max "
        f"|update| {update:.3g}), {off:.3%} of them differ by more than 1e-5"
    )
    assert update > 1e-3, "the update must move the weights"
    assert off < 1e-3, off
    assert weight_diff.max().item() <= 0.02 * update, weight_diff.max().item()


@pytest.fixture(scope="module")
def straight(tiny_dir, train_dir, tmp_path_factory) -> Path:
    """2 RL steps (hf rollouts, GRPO + SSR, clipping on) at world size 2 under FSDP2."""
    out = tmp_path_factory.mktemp("fsdp2-straight")
    run_ranks(WORKER, ["fit", str(tiny_dir), str(train_dir), str(out), "2"], size=2, env=FSDP2)
    return out


def test_two_fsdp2_ranks_roll_out_different_prompts_and_share_one_model(straight, train_dir):
    from datasets import load_from_disk

    from vrl.rl.data import PromptStream

    ranks = [json.loads((straight / f"fit_rank{r}.json").read_text()) for r in (0, 1)]
    stream = PromptStream(load_from_disk(str(train_dir)), 4, seed=0)
    for step in range(2):
        mine = [set(r["prompts"][step]) for r in ranks]
        assert mine[0] and mine[1] and not mine[0] & mine[1], f"step {step}: the ranks share prompts"
        assert mine[0] | mine[1] == {s.id for s in stream.batch_at(step)}, "a prompt was dropped"
        assert ranks[0]["weights"][step] == ranks[1]["weights"][step], (
            f"gathered weights differ after step {step}"
        )
    assert ranks[0]["weights"][0] != ranks[0]["weights"][1], "the weights must change"
    assert ranks[0]["seed"][0] != ranks[1]["seed"][0], "each rank samples from its own RNG stream"
    assert ranks[0]["replay"] == ranks[1]["replay"], "the ranks' replay stores differ"
    assert ranks[0]["rl_step"] == ranks[1]["rl_step"] == 2


def test_two_fsdp2_rank_checkpoint_resumes_to_the_uninterrupted_weights(
    straight, tiny_dir, train_dir, tmp_path
):
    """1 step, then a resume from that checkpoint to step 2: the straight run's weights."""
    args = [str(tiny_dir), str(train_dir)]
    stopped, resumed = tmp_path / "stopped", tmp_path / "resumed"
    run_ranks(WORKER, ["fit", *args, str(stopped), "1"], size=2, env=FSDP2)
    ckpt = stopped / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=False)
    assert state["vrl_rl"]["rl_step"] == 1 and len(state["vrl_rl"]["rng"]) == 2, "one RNG state per rank"
    run_ranks(WORKER, ["fit", *args, str(resumed), "2", str(ckpt)], size=2, env=FSDP2)
    final = [json.loads((d / "fit_rank0.json").read_text()) for d in (straight, resumed)]
    assert final[1]["rl_step"] == 2 and final[1]["data_position"] == 2
    assert final[1]["weights"] == final[0]["weights"][1:], "resumed run diverged from the uninterrupted one"
