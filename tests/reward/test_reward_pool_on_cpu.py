"""RewardPool: weighted totals, stats, and failures that become None without stopping the run.

The helper rewards live at module level so the forkserver workers can import them.
"""

import math
import os
import signal
import time

import pytest

from vrl.errors import ConfigError
from vrl.reward import RewardPool, accuracy_reward


def length_reward(completions, **_):
    return [float(len(c)) for c in completions]


def fragile_reward(completions, answer, **_):
    """Raises on any chunk containing the answer "boom"; returns None for "skip"."""
    if "boom" in answer:
        raise RuntimeError("boom")
    return [None if a == "skip" else 1.0 for a in answer]


def slow_reward(completions, answer, **_):
    if "slow" in answer:
        time.sleep(5)
    return [1.0] * len(completions)


def test_weighted_total_and_stats_inline():
    pool = RewardPool(
        {"acc": accuracy_reward, "len": length_reward}, weights={"len": 0.5}, pool={"num_workers": 0}
    )
    out = pool([r"\boxed{1}", r"\boxed{2}"], answer=["1", "1"], answer_type=["integer", "integer"])
    # acc = [1, 0], len = [9, 9]; weights acc 1.0 (default), len 0.5 -> total [1 + 4.5, 0 + 4.5]
    assert out.rewards == {"acc": [1.0, 0.0], "len": [9.0, 9.0]}
    assert out.total == [5.5, 4.5]
    assert out.stats["reward/acc/mean"] == 0.5
    assert out.stats["reward/acc/none_frac"] == 0.0
    assert out.stats["reward/total/mean"] == 5.0


def test_raising_items_become_none_and_are_counted():
    with RewardPool(
        {"fragile": fragile_reward}, pool={"num_workers": 1, "chunk_size": 4, "timeout_s": 10}
    ) as pool:
        out = pool(["a", "b", "c", "d"], answer=["ok", "boom", "skip", "ok"])
    # the chunk raised; the worker retried item by item: only "boom" fails, "skip" is a legit None
    assert out.rewards["fragile"] == [1.0, None, None, 1.0]
    assert out.stats["reward/fragile/errors"] == 1.0
    assert out.stats["reward/fragile/none_frac"] == 0.5
    assert out.total == [1.0, 0.0, 0.0, 1.0] and out.valid == [True, False, False, True]


def crashing_reward(completions, answer, **_):
    """Kills its worker process on a chunk holding the answer "crash" (a segfaulting verifier)."""
    if "crash" in answer:
        os._exit(1)
    return [1.0] * len(completions)


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_timeout_gives_none_counts_it_and_the_pool_recovers(chunk_size):
    """Per item or in a chunk: only the item that hangs loses its reward (a chunk that timed out
    is run again item by item, each with its own deadline)."""
    with RewardPool(
        {"slow": slow_reward, "len": length_reward},
        pool={"num_workers": 2, "timeout_s": 1.0, "chunk_size": chunk_size},
    ) as pool:
        start = time.monotonic()
        out = pool(["x", "yy", "zzz"], answer=["fast", "slow", "fast"])
        assert time.monotonic() - start < 4.5  # did not wait for the 5 s sleep (a chunk: two 1 s waits)
        assert out.rewards["slow"] == [1.0, None, 1.0]
        assert out.rewards["len"] == [1.0, 2.0, 3.0]
        assert out.stats["reward/slow/timeouts"] == 1.0
        assert out.stats["reward/slow/none_frac"] == pytest.approx(1 / 3)
        again = pool(["x"], answer=["fast"])  # the killed worker was replaced
        assert again.rewards["slow"] == [1.0]


def test_a_worker_dying_inside_a_chunk_loses_only_the_item_that_killed_it():
    with RewardPool({"f": crashing_reward}, pool={"num_workers": 1, "chunk_size": 4}) as pool:
        out = pool(["a", "b", "c", "d"], answer=["ok", "crash", "ok", "ok"])
        assert out.rewards["f"] == [1.0, None, 1.0, 1.0]
        assert out.stats["reward/f/timeouts"] == 1.0  # "timed out or its worker died"
        assert pool(["e"], answer=["ok"]).rewards["f"] == [1.0]  # the worker was replaced


def test_all_none_mean_is_nan_and_config_errors():
    out = RewardPool({"f": fragile_reward}, pool={"num_workers": 0})(["a"], answer=["skip"])
    assert math.isnan(out.stats["reward/f/mean"])
    with pytest.raises(ConfigError, match="not in reward.functions"):
        RewardPool({"f": fragile_reward}, weights={"g": 1.0})
    with pytest.raises(ConfigError, match="cannot be sent"):
        RewardPool({"f": lambda completions, **_: [1.0] * len(completions)}).start()
    with pytest.raises(ValueError, match="answer"):
        RewardPool({"f": fragile_reward}, pool={"num_workers": 0})(["a", "b"], answer=["x"])


def test_a_worker_that_died_while_idle_is_replaced():
    with RewardPool({"len": length_reward}, pool={"num_workers": 1}) as pool:
        pool._workers[0].process.kill()
        pool._workers[0].process.join()
        assert pool(["ab"]).rewards["len"] == [2.0]


def test_a_worker_outlives_ctrl_c_quietly(capfd):
    """Ctrl-C goes to the whole process group; the trainer handles it, its workers must not die
    of it (no KeyboardInterrupt traceback, and the pool still scores after it)."""
    with RewardPool({"len": length_reward}, pool={"num_workers": 1}) as pool:
        worker = pool._workers[0].process
        os.kill(worker.pid, signal.SIGINT)
        time.sleep(0.5)
        assert worker.is_alive()
        assert pool(["abc"]).rewards["len"] == [3.0]
        assert pool._workers[0].process is worker  # the same worker, not a replacement
    assert "KeyboardInterrupt" not in capfd.readouterr().err


def nan_for_x_reward(completions, **_):
    return [math.nan if c == "x" else 1.0 for c in completions]


def always_failing_reward(completions, **_):
    raise KeyError("solution")


def test_nan_becomes_none_counted_and_logged(caplog):
    pool = RewardPool({"f": nan_for_x_reward}, pool={"num_workers": 0})
    with caplog.at_level("WARNING"):
        out = pool(["x", "y", "z"])
    assert out.rewards["f"] == [None, 1.0, 1.0]
    assert out.stats["reward/f/nonfinite"] == 1.0 and out.stats["reward/f/errors"] == 0.0
    assert "NaN/inf" in caplog.text, "a NaN reward must never pass in silence"


@pytest.mark.parametrize(
    ("fn", "what"), [(nan_for_x_reward, "1 gave NaN/inf"), (always_failing_reward, "2 raised")]
)
def test_a_function_failing_on_most_completions_stops_the_run(fn, what):
    from vrl.reward.pool import RewardFailure

    pool = RewardPool({"f": fn}, pool={"num_workers": 0, "max_failure_frac": 0.4})
    with pytest.raises(RewardFailure, match=rf"reward 'f' failed on \d of 2 completions .*{what}") as caught:
        pool(["x", "x"] if fn is always_failing_reward else ["x", "y"])
    assert "\n" not in str(caught.value) and "max_failure_frac=0.4" in str(caught.value)


def test_failures_up_to_the_threshold_and_deliberate_nones_do_not_stop_it():
    pool = RewardPool({"f": nan_for_x_reward}, pool={"num_workers": 0, "max_failure_frac": 0.5})
    assert pool(["x", "y"]).rewards["f"] == [None, 1.0]  # 1 of 2 = 0.5: not above
    never = RewardPool({"f": always_failing_reward}, pool={"num_workers": 0, "max_failure_frac": 1.0})
    assert never(["a", "b"]).rewards["f"] == [None, None]
    skips = RewardPool({"f": fragile_reward}, pool={"num_workers": 0, "max_failure_frac": 0.0})
    assert skips(["a"], answer=["skip"]).rewards["f"] == [None]  # a None on purpose is no failure
    with pytest.raises(ConfigError, match=r"reward.pool.max_failure_frac=1.5 must be in \[0, 1\]"):
        RewardPool({"f": fragile_reward}, pool={"max_failure_frac": 1.5})


def test_the_threshold_applies_in_worker_processes():
    from vrl.reward.pool import RewardFailure

    with RewardPool({"f": nan_for_x_reward}, pool={"num_workers": 1, "chunk_size": 2}) as pool:
        with pytest.raises(RewardFailure, match="3 gave NaN/inf"):
            pool(["x", "x", "x", "y"])
