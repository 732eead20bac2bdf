"""Replay policies on hand-made batches: SSR probabilities, FIFO store, positives, checkpoints."""

import io

import pytest
import torch

from vrl.data.schema import Sample
from vrl.policy.trajectory import Trajectory
from vrl.replay import FilterReplay, NoReplay, SelectiveSampleReplay


def make(group, reward, advantage, name="", step=0):
    sample = Sample(id=f"q{group}", images=[], prompt=[], answer="1")
    return Trajectory(
        group, group, sample, [1], [2, 3], [1, 1], name, True, reward=reward, advantage=advantage, step=step
    )


def group_mean_batch(groups, step=0):
    """Trajectories with A = r - group mean, named "g<group>r<index>"."""
    out = []
    for g, rewards in enumerate(groups):
        mean = sum(rewards) / len(rewards)
        out += [make(g + 10 * step, r, r - mean, f"s{step}g{g}r{i}", step) for i, r in enumerate(rewards)]
    return out


def test_no_replay_reports_effective_ratio():
    batch = group_mean_batch([[1, 0, 0, 0], [1, 1, 1, 1]])
    replay = NoReplay()
    assert replay.select(batch, 0) == batch
    # 4 of 8 samples have A != 0; 1 of 2 groups
    assert replay.stats["replay/effective_ratio"] == 0.5
    assert replay.stats["replay/effective_query_ratio"] == 0.5
    assert not replay.needs_more(0)


def test_uniform_groups_are_split_into_solved_and_unsolved_by_the_accuracy_part():
    from dataclasses import replace

    from vrl.replay import effectiveness_stats

    # groups: mixed, all correct, all wrong, all correct; the total reward (3 = accuracy + a
    # format bonus 2) is not what decides "correct": the accuracy part is
    accuracy = [[1, 0], [1, 1], [0, 0], [1, 1]]
    batch = [
        replace(t, reward_parts={"accuracy": float(a)}, reward=a + 2.0)
        for t, a in zip(group_mean_batch(accuracy), [a for g in accuracy for a in g])
    ]
    stats = effectiveness_stats(batch)
    assert stats["replay/effective_query_ratio"] == 0.25
    assert stats["replay/solve_all_query_ratio"] == 0.5
    assert stats["replay/solve_none_query_ratio"] == 0.25
    # without an accuracy part on every sample the split is not reported (it would be a guess)
    partial = batch[:-1] + [replace(batch[-1], reward_parts={})]
    assert "replay/solve_all_query_ratio" not in effectiveness_stats(partial)


def test_filter_drops_uniform_groups_and_asks_for_more():
    replay = FilterReplay(target_size=8, max_rounds=2)
    kept = replay.select(group_mean_batch([[1, 0], [1, 1], [0, 0], [0, 1]]), step=0)
    assert [t.text for t in kept] == ["s0g0r0", "s0g0r1", "s0g3r0", "s0g3r1"]
    assert replay.stats["replay/dropped_groups"] == 2
    assert replay.needs_more(len(kept))  # 4 < 8 and 1 round < 2
    kept += replay.select(group_mean_batch([[1, 0]]), step=0)
    assert not replay.needs_more(len(kept))  # 2 rounds used
    replay.select(group_mean_batch([[1, 0]]), step=1)  # a new step resets the rounds
    assert replay.needs_more(2) and not replay.needs_more(8)


def test_ssr_current_draw_probability_is_abs_advantage_to_the_alpha():
    # group [1, 0, 0, 0]: A = [0.75, -0.25, -0.25, -0.25]; group [1, 1, 1, 1]: A = 0 (dropped)
    # K = round(0.125 * 8) = 1 slot. alpha = 1: P(r0) = 0.75 / 1.5 = 0.5
    # alpha = 2: P(r0) = 0.5625 / (0.5625 + 3 * 0.0625) = 0.75
    batch = group_mean_batch([[1, 0, 0, 0], [1, 1, 1, 1]])
    for alpha, expected in ((1.0, 0.5), (2.0, 0.75)):
        ssr = SelectiveSampleReplay(alpha=alpha, output_fraction=0.125, pos_ratio=0.0, capacity=1, seed=1)
        picks = [ssr.select(batch, step)[0].text for step in range(2000)]
        assert picks.count("s0g0r0") / 2000 == pytest.approx(expected, abs=0.04)
        assert ssr.stats["replay/replayed"] == 0  # the current step filled the slot


def test_ssr_fifo_store_evicts_oldest_and_fills_empty_slots():
    ssr = SelectiveSampleReplay(capacity=3, pos_ratio=0.0, output_fraction=0.5, seed=0)
    # step 0: 4 effective samples, K = 2 drawn from them; all 4 pushed, capacity 3 -> s0g0r0 evicted
    ssr.select(group_mean_batch([[1, 0, 0, 0]]), step=0)
    assert [t.text for t in ssr.state_dict()["store"]] == ["s0g0r1", "s0g0r2", "s0g0r3"]
    assert ssr.stats["replay/evicted"] == 1 and ssr.stats["replay/buffer_size"] == 3
    # step 1: no effective sample (A = 0 everywhere), K = 4 -> all 3 stored samples replayed
    out = ssr.select(group_mean_batch([[0, 0, 0, 0], [0, 0, 0, 0]], step=1), step=1)
    assert sorted(t.text for t in out) == ["s0g0r1", "s0g0r2", "s0g0r3"]
    assert ssr.stats["replay/replayed"] == 3 and ssr.stats["replay/effective_ratio"] == 0.0
    # step 2: 4 samples, K = 2, filled by the 2 new effective ones; 2 pushed, 2 oldest evicted
    out = ssr.select(group_mean_batch([[1, 0], [0, 0]], step=2), step=2)
    assert sorted(t.text for t in out) == ["s2g0r0", "s2g0r1"]
    assert [t.text for t in ssr.state_dict()["store"]] == ["s0g0r3", "s2g0r0", "s2g0r1"]


def test_ssr_store_draw_probability_is_abs_advantage_plus_eps():
    # store holds |A| = 0.75 and 0.25; one empty slot: P(0.75) = 0.7501 / 1.0002 ~= 0.75
    hits = 0
    for seed in range(600):
        ssr = SelectiveSampleReplay(capacity=2, pos_ratio=0.0, output_fraction=0.5, seed=seed)
        ssr.load_state_dict(
            {
                "store": [make(0, 1, 0.75, "big"), make(0, 0, -0.25, "small")],
                "generator": torch.Generator().manual_seed(seed).get_state(),
            }
        )
        out = ssr.select(group_mean_batch([[0, 0]], step=1), step=1)  # K = 1, nothing effective
        hits += out[0].text == "big"
    assert hits / 600 == pytest.approx(0.75, abs=0.06)


def test_ssr_keeps_a_share_of_all_correct_samples_as_positives():
    # 10 all-correct samples, pos_ratio 0.1 -> 1 positive; all-wrong groups give none.
    batch = group_mean_batch([[1] * 10, [0] * 10])
    ssr = SelectiveSampleReplay(pos_ratio=0.1, output_fraction=0.5, seed=0)
    out = ssr.select(batch, step=0)
    assert len(out) == 1 and out[0].reward == 1 and out[0].advantage == 0
    assert ssr.stats["replay/positives"] == 1
    assert ssr.stats["replay/buffer_size"] == 0  # positives never enter the store


def test_ssr_checkpoint_round_trip_reproduces_the_next_draws():
    ssr = SelectiveSampleReplay(capacity=8, output_fraction=0.25, seed=3)
    for step in range(3):
        ssr.select(group_mean_batch([[1, 0, 0, 0], [1, 1, 0, 0]], step=step), step=step)
    buffer = io.BytesIO()
    torch.save(ssr.state_dict(), buffer)
    buffer.seek(0)
    restored = SelectiveSampleReplay(capacity=8, output_fraction=0.25, seed=99)
    restored.load_state_dict(torch.load(buffer, weights_only=False))
    nothing_new = group_mean_batch([[0] * 8, [0] * 8], step=3)  # K = 4, all from the store
    assert [t.text for t in restored.select(nothing_new, 3)] == [t.text for t in ssr.select(nothing_new, 3)]


def test_replay_needs_advantages():
    with pytest.raises(ValueError, match="advantage"):
        NoReplay().select([make(0, 1.0, None)], 0)
