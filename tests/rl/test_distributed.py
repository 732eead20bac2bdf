"""`vrl.rl.distributed.micro_batches`: each rank's micro-batches of a mini-batch, padded under
FSDP2 so that every rank runs as many forwards/backwards (numbers worked out by hand)."""

from __future__ import annotations

import pytest

from vrl.rl.distributed import micro_batches


@pytest.mark.parametrize(
    ("n", "rank", "size", "pad", "expected"),
    [
        (7, 0, 2, False, [(0, 3), (3, 4)]),  # rank 0's share: rows 0-3
        (7, 1, 2, False, [(4, 7)]),  # rank 1's: rows 4-6, one micro-batch
        (7, 1, 2, True, [(4, 7), None]),  # padded to rank 0's two
        (1, 1, 2, True, [None]),  # no row at all, still one forward/backward
        (1, 1, 2, False, []),
        (16, 1, 2, True, [(8, 11), (11, 14), (14, 16)]),  # even shares: nothing to pad
        (5, 0, 1, True, [(0, 3), (3, 5)]),  # one process
    ],
)
def test_micro_batches_split_the_share_and_pad_to_the_largest(n, rank, size, pad, expected):
    assert micro_batches(n, rank, size, 3, pad) == expected
