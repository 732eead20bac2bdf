"""Forced rethinking: truncation rules, skip rules, acceptance filters and slot replacement,
with a deterministic stand-in for the rollout engine's `continue_fn`."""

import pytest

from vrl.data.schema import Sample
from vrl.policy.continuation import Continuation
from vrl.policy.trajectory import Trajectory
from vrl.rethink import ForcedRethink, NoRethink, cut_before_answer
from vrl.reward import accuracy_reward

RIGHT, WRONG = "Add them.\n\nSo \\boxed{2}", "Add them.\n\nSo \\boxed{3}"
VERIFY, CORRECT = "\n\nWait, let's double check", "\n\nWait, there might be a mistake"
GOOD = " Recount: 1 + 1 = 2. So \\boxed{2}."


def make(group, text, *, finished=True, forced=False, loss_mask=None, tokens=10):
    sample = Sample(id=f"q{group}", images=[], prompt=[], answer="2", answer_type="integer")
    return Trajectory(
        group, group, sample, [1, 2], [9] * tokens, loss_mask or [1] * tokens, text, finished,
        forced=forced, old_log_probs=[-0.5] * tokens, sampling_log_probs=[-0.4] * tokens,
    )  # fmt: skip


class Engine:
    """continue_fn stand-in: `outcomes[original text] = (new text, new tokens, finished)`."""

    def __init__(self, outcomes=None, default=(GOOD, 40, True)):
        self.outcomes, self.default, self.calls = outcomes or {}, default, []

    def __call__(self, prefixes, temperature):
        self.calls.append(([p for _, p in prefixes], temperature))
        out = []
        for traj, prefix in prefixes:
            text, n_new, finished = self.outcomes.get(traj.text, self.default)
            out.append(Continuation(text, list(range(n_new)), finished, [7] * len(prefix.split())))
        return out


def rethinker(**kwargs):
    options = dict(skip_prob=0.0, truncate_prob=0.0, generic_prob=0.0, seed=0)
    return ForcedRethink(accuracy_reward, **{**options, **kwargs})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Step 1.\n\nStep 2. Wait, recheck.\n\nSo \\boxed{2}", "Step 1."),  # last Wait, back to blank line
        ("Compute 1+1.\n\nThus it is \\boxed{2}.", "Compute 1+1."),  # no Wait: last \boxed
        ("Let me see.\n\nThe answer is 2", "Let me see."),  # no Wait, no \boxed: first "answer"
        ("So the result is \\boxed{2}", "So the result is"),  # marker, no blank line: cut at it
        ("abc\n\ndef", "abc"),  # no marker: last blank line
        ("abc def", None),  # nowhere to cut: keep whole
        ("\\boxed{2}", None),  # the cut would leave nothing
    ],
)
def test_cut_before_answer(text, expected):
    assert cut_before_answer(text) == expected


def test_cut_marker_syntax_is_checked():
    with pytest.raises(ValueError):
        cut_before_answer("x", ["Wait"])


def test_triggers_follow_correctness_and_replacement_keeps_the_slot():
    batch = [make(0, RIGHT), make(0, WRONG), make(1, WRONG)]
    engine = Engine()
    out, stats = rethinker().augment(batch, engine)
    prefixes, temperature = engine.calls[0]
    assert temperature == 0.9
    assert prefixes == [RIGHT + VERIFY, WRONG + CORRECT, WRONG + CORRECT]  # group accuracies 0.5, 0.0
    assert [t.forced for t in out] == [True, True, True]
    new = out[1]
    assert new.text == WRONG + CORRECT + GOOD and new.group_id == 0 and new.prompt_index == 0
    n_prefix = len((WRONG + CORRECT).split())
    assert new.response_ids == [7] * n_prefix + list(range(40))  # trigger tokens are in the response ...
    assert new.loss_mask == [1] * (n_prefix + 40)  # ... and in the loss
    assert new.old_log_probs is None and new.reward is None
    assert new.sampling_log_probs is None  # the engine never sampled the trigger: no record, not a wrong one
    assert stats["rethink/attempt_rate"] == 1.0 and stats["rethink/accept_rate"] == 1.0


def test_skip_rules():
    group = [make(0, RIGHT), make(0, RIGHT), make(0, RIGHT), make(0, WRONG)]  # accuracy 0.75 > 0.7
    others = [
        make(1, RIGHT, finished=False),  # no EOS
        make(2, RIGHT, forced=True),  # already forced
        make(3, RIGHT, loss_mask=[1, 0, 1, 1, 1, 1, 1, 1, 1, 1]),  # holds tool output
        make(4, RIGHT, tokens=50),  # longer than max_response_tokens
    ]
    engine = Engine()
    out, stats = rethinker(max_response_tokens=20).augment(group + others, engine)
    assert engine.calls[0][0] == [RIGHT + VERIFY] * 3  # only the correct ones of group 0 ...
    assert stats["rethink/rejected/quota"] == 1  # ... and only 2 kept per query
    assert [t.forced for t in out] == [True, True, False, False, False, True, False, False]
    assert out[5] is others[1]  # untouched trajectories are passed through as they are
    everything_skipped, _ = rethinker(skip_prob=1.0).augment([make(0, RIGHT)], Engine())
    assert not everything_skipped[0].forced


def test_acceptance_filters():
    texts = [f"{i}. so \\boxed{{2}}" for i in range(7)]
    engine = Engine(
        {
            texts[0]: (GOOD, 30, True),  # 30 new tokens: not > 30
            texts[1]: (GOOD, 31, True),  # accepted
            texts[2]: (GOOD, 1024, True),  # not < 1024
            texts[3]: (GOOD, 100, False),  # no EOS
            texts[4]: (" Hmm. So \\boxed{5}.", 100, True),  # wrong after rethinking
            texts[5]: (" Wait, a. Wait, b. Alternatively, c. Wait, d." + GOOD, 100, True),  # 5 cues > 4
            texts[6]: (" Wait, a. Alternatively, c." + GOOD, 100, True),  # 2 + trigger's "Wait," = 3 <= 4
        }
    )
    batch = [make(i, t) for i, t in enumerate(texts)]
    out, stats = rethinker(verification_triggers=["\n\nWait, check"]).augment(batch, engine)
    assert [t.forced for t in out] == [False, True, False, False, False, False, True]
    rejected = {k.split("/")[-1]: v for k, v in stats.items() if k.startswith("rethink/rejected/")}
    assert rejected == {"length": 2, "unfinished": 1, "cues": 1, "wrong": 1, "quota": 0}
    assert stats["rethink/accept_rate"] == pytest.approx(2 / 7)


def test_truncation_and_generic_triggers_are_seeded():
    text = "Step 1.\n\nWait, hmm.\n\nSo \\boxed{2}"
    batch = [make(i, text) for i in range(400)]
    options = dict(skip_prob=0.0, truncate_prob=0.5, generic_prob=1.0, seed=5)
    engine = Engine()
    ForcedRethink(accuracy_reward, **options).augment(batch, engine)
    prefixes = engine.calls[0][0]
    truncated = [p for p in prefixes if "boxed" not in p]
    assert len(truncated) / 400 == pytest.approx(0.5, abs=0.08)  # cut before the last "Wait"
    plain_wait = [p for p in prefixes if p.endswith("\n\nWait")]
    # "\n\nWait" with p 0.4, else "\n\nWait, does it seem right?"
    assert len(plain_wait) / 400 == pytest.approx(0.4, abs=0.08)
    assert all(p.endswith(("\n\nWait", "\n\nWait, does it seem right?")) for p in prefixes)
    again = Engine()
    ForcedRethink(accuracy_reward, **options).augment(batch, again)
    assert again.calls[0][0] == prefixes


def test_state_dict_round_trip_and_no_rethink():
    a = ForcedRethink(accuracy_reward, seed=1)
    a.augment([make(i, RIGHT) for i in range(20)], Engine())
    b = ForcedRethink(accuracy_reward, seed=2)
    b.load_state_dict(a.state_dict())
    batch = [make(i, RIGHT) for i in range(20)]
    ea, eb = Engine(), Engine()
    a.augment(batch, ea)
    b.augment(batch, eb)
    assert ea.calls == eb.calls
    out, stats = NoRethink().augment(batch, Engine())
    assert out == batch and stats == {}


def test_a_continuation_must_state_the_correct_answer_itself():
    # an untruncated correct original keeps its \boxed{2} before the trigger: read whole, any
    # continuation after it "ends right" (here junk with no answer, or a wrong one before a
    # stray brace); the continuation's own answer decides by default
    texts = ["a. so \\boxed{2}", "b. so \\boxed{2}", "c. so \\boxed{2}"]
    outcomes = {
        texts[0]: ("below}", 40, True),  # no answer of its own
        texts[1]: (" So \\boxed{5} and }", 40, True),  # its own answer is wrong ...
        texts[2]: (GOOD, 40, True),  # states the right answer again
    }
    batch = [make(i, t) for i, t in enumerate(texts)]
    out, stats = rethinker().augment(batch, Engine(outcomes))
    assert [t.forced for t in out] == [False, False, True]
    assert stats["rethink/rejected/wrong"] == 2
    whole, whole_stats = rethinker(answer_in_continuation=False).augment(batch, Engine(outcomes))
    assert [t.forced for t in whole] == [True, False, True]  # junk kept: the original's answer is last
    assert whole_stats["rethink/rejected/wrong"] == 1
