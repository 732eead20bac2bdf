"""Data split over ranks: SFT batches and eval/RL shares, nothing dropped, nothing counted twice."""

from __future__ import annotations

import pytest

from vrl.distributed import shard, shard_bounds
from vrl.sft.datamodule import ShardedBatches


@pytest.mark.parametrize("n", [1, 2, 7, 16, 33])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shares_cover_every_item_once_in_order(n, size):
    items = list(range(n))
    shares = [shard(items, rank, size) for rank in range(size)]
    assert [i for share in shares for i in share] == items
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert shard_bounds(n, size - 1, size)[1] == n


@pytest.mark.parametrize("n", [1, 3, 16, 17, 23, 48])
@pytest.mark.parametrize("batch_size", [1, 4, 8])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sft_batches_of_two_ranks_are_the_batches_of_one_process(n, batch_size, shuffle):
    """Each step, the 2 ranks together train on the samples one process with twice the batch
    trains on; over the epoch every sample is real on exactly one rank; every rank takes the
    same number of steps (padding rows where a rank has no sample left)."""
    one = ShardedBatches(n, 2 * batch_size, shuffle, seed=3)
    ranks = [ShardedBatches(n, batch_size, shuffle, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for epoch in (0, 1):
        per_rank = [b.batches(epoch) for b in ranks]
        assert len(per_rank[0]) == len(per_rank[1]) == len(ranks[0]) == len(one)
        for step, single in enumerate(one.batches(epoch)):
            real = [i for rank in per_rank for i, ok in rank[step] if ok]
            assert real == [i for i, _ in single]
            assert all(len(rank[step]) <= batch_size for rank in per_rank)
        seen = [i for rank in per_rank for batch in rank for i, ok in batch if ok]
        assert sorted(seen) == list(range(n))
    if shuffle and n > 8:
        assert ranks[0].order(0) != ranks[0].order(1), "each epoch its own order"


def test_sft_batches_resume_mid_epoch_where_they_stopped():
    batches = ShardedBatches(40, 4, True, seed=0, rank=1, world_size=2)
    batches.set_epoch(2)
    full = list(batches)
    batches.skip = 3
    assert list(batches) == full[3:]
    assert list(batches) == full, "the skip applies to one pass only"
