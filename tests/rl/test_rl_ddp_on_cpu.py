"""The RL step on 2 ranks (DDP over gloo, 2 real processes): prompts split by group, weights
identical after every step, the gradient of one process on the union, resume at world size 2.
Each test starts `ddp_worker.py` per rank, as `vrl.distributed.spawn_local_ranks` would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from vrl_testing import assert_logged_grad_norm_is_the_global_one, run_ranks

pytestmark = [pytest.mark.ddp, pytest.mark.slow]
WORKER = Path(__file__).with_name("ddp_worker.py")


def _ranks(args: list[str], size: int) -> None:
    run_ranks(WORKER, args, size)


@pytest.fixture(scope="module")
def model_dir(tiny_dir) -> str:
    return str(tiny_dir)


@pytest.mark.parametrize("mini_batch_size", [0, 6])  # one optimizer step; three (16 = 6 + 6 + 4)
def test_two_rank_step_on_fixed_rollouts_has_the_gradient_of_one_process(
    model_dir, train_dir, tmp_path, mini_batch_size
):
    """Same 16 scored responses; rank r trains on its share with the global token count and the
    ranks' gradients are summed: one process on all 16 computes the same gradient."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    _ranks(["grad", model_dir, str(train_dir), str(one), str(mini_batch_size)], size=1)
    _ranks(["grad", model_dir, str(train_dir), str(two), str(mini_batch_size)], size=2)
    reference = torch.load(one / "grads_rank0.pt")
    rank0, rank1 = torch.load(two / "grads_rank0.pt"), torch.load(two / "grads_rank1.pt")
    steps = 1 if mini_batch_size == 0 else 3
    assert reference.shape[0] == rank0.shape[0] == steps
    assert torch.equal(rank0, rank1), "the ranks must step on identical gradients"
    local = [torch.load(two / f"local_grads_rank{r}.pt") for r in (0, 1)]
    assert not torch.equal(local[0], local[1]), "each rank's own gradient (DDP must not average them)"
    assert torch.allclose(local[0] + local[1], rank0, atol=1e-7, rtol=1e-5)
    assert reference.abs().max() > 1e-4, "the fixed batch must carry a gradient"
    diff = (rank0 - reference).abs().max().item()
    scale = reference.abs().max().item()
    print(
        f"gradient equivalence, mini_batch_size={mini_batch_size}: max |2 ranks - 1 process| = "
        f"{diff:.3g} (max |grad| {scale:.3g})"
    )
    assert diff <= 1e-5 * max(1.0, scale), diff
    assert_logged_grad_norm_is_the_global_one(one, two, reference)


def test_two_ranks_roll_out_different_prompts_and_keep_identical_weights(model_dir, train_dir, tmp_path):
    from datasets import load_from_disk

    from vrl.rl.data import PromptStream

    _ranks(["fit", model_dir, str(train_dir), str(tmp_path), "2"], size=2)
    ranks = [json.loads((tmp_path / f"fit_rank{r}.json").read_text()) for r in (0, 1)]
    stream = PromptStream(load_from_disk(str(train_dir)), 4, seed=0)
    for step in range(2):
        mine = [set(r["prompts"][step]) for r in ranks]
        assert mine[0] and mine[1] and not mine[0] & mine[1], f"step {step}: the ranks share prompts"
        assert mine[0] | mine[1] == {s.id for s in stream.batch_at(step)}, "a prompt was dropped"
        assert ranks[0]["weights"][step] == ranks[1]["weights"][step], f"weights differ after step {step}"
    assert ranks[0]["weights"][0] != ranks[0]["weights"][1], "the weights must change"
    assert ranks[0]["seed"][0] != ranks[1]["seed"][0], "each rank samples from its own RNG stream"
    # Replay (SSR) keeps one global store: every rank sees every rank's trajectories (gathered)
    # and selects with the same seeded generator, so the stores are the same on both ranks.
    assert ranks[0]["replay"] == ranks[1]["replay"], "the ranks' replay stores differ"
    assert max(ranks[0]["replay_size"]) > 0, "nothing was stored for replay: the check tested nothing"
    assert ranks[0]["rl_step"] == ranks[1]["rl_step"] == 2


def test_two_rank_checkpoint_resumes_to_the_uninterrupted_weights(model_dir, train_dir, tmp_path):
    """3 steps at world size 2, against 2 steps, then a resume from that checkpoint to step 3:
    the same weights (per-rank RNG streams, replay store and data position restored)."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    _ranks(["fit", model_dir, str(train_dir), str(straight), "3"], size=2)
    _ranks(["fit", model_dir, str(train_dir), str(stopped), "2"], size=2)
    ckpt = stopped / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=False)["vrl_rl"]
    assert state["rl_step"] == 2 and len(state["rng"]) == 2, "one RNG state per rank"
    resumed = tmp_path / "resumed"
    _ranks(["fit", model_dir, str(train_dir), str(resumed), "3", str(ckpt)], size=2)
    final = [json.loads((d / "fit_rank0.json").read_text()) for d in (straight, resumed)]
    assert final[1]["rl_step"] == 3 and final[1]["data_position"] == 3
    assert final[1]["weights"] == final[0]["weights"][2:], "resumed run diverged from the uninterrupted one"
