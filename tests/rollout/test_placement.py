"""Rank -> engine arithmetic for tensor-parallel engines (`vrl.rollout.placement`), against
tables worked out by hand, and the one-line errors for layouts that do not tile."""

from __future__ import annotations

import re

import pytest

from vrl.errors import ConfigError
from vrl.rollout.placement import check_engine_layout, engine_placement


def table(world_size: int, tp: int, gpus_per_node: int, prompts: int) -> list[tuple]:
    """(engine, driver, group, prompt bounds) per rank."""
    out = []
    for rank in range(world_size):
        p = engine_placement(rank, world_size, tp, gpus_per_node)
        assert p.num_engines == world_size // tp and p.rank == rank
        out.append((p.engine, p.driver, p.group, p.prompt_bounds(prompts)))
    return out


def test_72b_tp4_on_8_gpus_makes_two_engines():
    # 16 prompts over 8 ranks: 2 each; engine 0 serves ranks 0-3's = prompts 0-7.
    g0, g1 = (0, 1, 2, 3), (4, 5, 6, 7)
    assert table(8, 4, 8, 16) == [
        (0, True, g0, (0, 8)),
        (0, False, g0, (0, 8)),
        (0, False, g0, (0, 8)),
        (0, False, g0, (0, 8)),
        (1, True, g1, (8, 16)),
        (1, False, g1, (8, 16)),
        (1, False, g1, (8, 16)),
        (1, False, g1, (8, 16)),
    ]


def test_tp1_makes_every_rank_its_own_engine_and_driver():
    # 10 prompts over 8 ranks: ranks 0-1 take 2, the others 1 (vrl.distributed.shard_bounds).
    bounds = [(0, 2), (2, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9), (9, 10)]
    assert table(8, 1, 8, 10) == [(r, True, (r,), bounds[r]) for r in range(8)]


def test_16_ranks_on_2_nodes_tp8_makes_one_engine_per_node():
    # 12 prompts over 16 ranks: ranks 0-11 take one, 12-15 none; engine 1 serves prompts 8-11.
    rows = table(16, 8, 8, 12)
    assert rows[:8] == [(0, r == 0, tuple(range(8)), (0, 8)) for r in range(8)]
    assert rows[8:] == [(1, r == 8, tuple(range(8, 16)), (8, 12)) for r in range(8, 16)]


def test_uneven_prompts_the_engines_shares_cover_every_prompt_once():
    for prompts in range(0, 20):
        seen = []
        for engine in range(2):
            start, stop = engine_placement(engine * 4, 8, 4, 8).prompt_bounds(prompts)
            seen += range(start, stop)
        assert seen == list(range(prompts))


@pytest.mark.parametrize(
    ("world_size", "tp", "gpus_per_node", "says"),
    [
        (6, 4, 8, "does not divide the 6 trainer ranks"),
        (8, 16, 8, "more than the 8 GPU(s) per node"),
        (24, 3, 8, "does not divide trainer.devices=8"),  # 24 % 3 == 0, but an engine would straddle nodes
        (8, 0, 8, "must be an integer >= 1"),
        (8, 2.0, 8, "must be an integer >= 1"),
    ],
)
def test_layouts_that_do_not_tile_fail_in_one_line(world_size, tp, gpus_per_node, says):
    with pytest.raises(ConfigError, match=re.escape(says)) as error:
        check_engine_layout(world_size, tp, gpus_per_node)
    assert "\n" not in str(error.value) and "rollout.tensor_parallel_size" in str(error.value)


def test_a_rank_outside_the_world_is_refused():
    with pytest.raises(ConfigError, match="outside the world of 8"):
        engine_placement(8, 8, 4, 8)


def test_the_arithmetic_alone_skips_the_node_checks():
    assert engine_placement(5, 8, 4, None).group == (4, 5, 6, 7)


def test_the_rl_preflight_reads_rollout_tensor_parallel_size():
    """`rollout.tensor_parallel_size` is the vLLM engine's own argument (its default: 1); the rl
    stage's check holds it against the trainer's ranks."""
    import inspect

    from vrl.rollout.vllm import VLLMRolloutEngine
    from vrl.stages.preflight import check_engine_placement
    from vrl.trainer import TrainerSettings

    assert inspect.signature(VLLMRolloutEngine).parameters["tensor_parallel_size"].default == 1
    engine = VLLMRolloutEngine(tensor_parallel_size=4)
    check_engine_placement(engine, TrainerSettings(accelerator="gpu", devices=8))  # 2 engines
    with pytest.raises(ConfigError, match="more than the 2 GPU"):
        check_engine_placement(engine, TrainerSettings(accelerator="gpu", devices=2))
    check_engine_placement(VLLMRolloutEngine(), TrainerSettings(devices=3, num_nodes=2))
