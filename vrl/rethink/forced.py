"""`ForcedRethink` (VL-Rethinker arXiv 2504.08837): append a rethinking trigger to some
responses, let the policy continue, and keep the continuations that end right.

Per response of a fresh rollout (before rewards):
1. Skip it unless it ended with EOS, is not longer than `max_response_tokens`, has no tool
   output (loss mask all 1) and was not forced already. Skip it if it is wrong while its
   group's accuracy is above `skip_wrong_above`; else skip it with probability `skip_prob`.
2. With probability `truncate_prob` cut it before its final answer (`cut_before_answer`),
   else keep it whole.
3. Append a trigger: with probability `generic_prob` one of `generic_triggers` (weights
   `generic_weights`), else a self-verification trigger if the original is correct or a
   self-correction trigger if it is wrong.
4. Continue all prefixes in one `continue_fn` call, sampling with the rollout's settings and
   `sampling`'s overrides (the paper continues at temperature 0.9).
5. Accept a continuation only if min_new_tokens < new tokens < max_new_tokens, it finished
   (EOS), the whole new response has at most `max_cues` cues, its answer is correct (with
   `answer_in_continuation`, the answer the continuation itself states: an answer kept from
   before the trigger does not count), and its group has fewer than `max_per_group` accepted
   ones. It replaces the original in its slot
   with `forced=True`; the trigger tokens are policy tokens (loss mask 1), and `old_log_probs`
   is None: the stage recomputes them (the trigger was not sampled). `sampling_log_probs` is
   None too: the re-encoded prefix and the trigger have no engine log-probs.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from vrl.answer.cues import RETHINK_CUES, count_cues
from vrl.errors import ConfigError
from vrl.partials import plain_partial
from vrl.policy.continuation import Continuation, ContinueFn
from vrl.policy.sampling import check_overrides
from vrl.policy.trajectory import Trajectory, reward_inputs
from vrl.rethink.truncate import DEFAULT_CUT_MARKERS, cut_before_answer


class ForcedRethink:
    """Forced rethinking with the paper's rules as arguments (defaults = the paper's values).

    Args:
        accuracy_fn: a reward function `fn(completions, **fields) -> list[float | None]`
            (e.g. `vrl.reward.accuracy_reward`); a value > 0.5 counts as correct.
        skip_prob: probability of skipping an eligible response.
        skip_wrong_above: wrong responses are skipped when their group accuracy exceeds this.
        max_response_tokens: responses longer than this are not rethought (None = no limit).
        truncate_prob: probability of cutting the response before its final answer.
        cut_markers: where to cut, in order of preference (see `vrl.rethink.truncate`).
        generic_prob: probability of a generic trigger (else verification / correction).
        generic_triggers, generic_weights: the generic triggers and their probabilities.
        verification_triggers: for correct originals (self-verification), chosen uniformly.
        correction_triggers: for wrong originals (self-correction), chosen uniformly.
        sampling: overrides of the rollout's sampling for the continuations
            (`vrl.policy.sampling`); the paper's temperature is 0.9.
        min_new_tokens, max_new_tokens: exclusive bounds on the continuation's length.
        max_per_group: rethought responses kept per query (group).
        max_cues: most rethinking cues allowed in a kept response.
        answer_in_continuation: judge correctness on the continuation's own text, so it must
            state a correct final answer after the trigger; False judges the whole new
            response, where an untruncated original's correct answer before the trigger passes
            whatever follows it (with a short `min_new_tokens`, junk after a right answer).
        cues: the cues counted (see `vrl.answer.cues`).
        seed: seed of the RNG that makes every random choice (checkpointed).
    """

    active = True  # see vrl.rethink.base.Rethink

    def __init__(
        self,
        accuracy_fn: Callable[..., list[float | None]],
        skip_prob: float = 0.35,
        skip_wrong_above: float = 0.7,
        max_response_tokens: int | None = None,
        truncate_prob: float = 0.5,
        cut_markers: Sequence[str] = DEFAULT_CUT_MARKERS,
        generic_prob: float = 0.5,
        generic_triggers: Sequence[str] = ("\n\nWait", "\n\nWait, does it seem right?"),
        generic_weights: Sequence[float] = (0.4, 0.6),
        verification_triggers: Sequence[str] = ("\n\nWait, let's double check",),
        correction_triggers: Sequence[str] = ("\n\nWait, there might be a mistake",),
        sampling: dict[str, Any] | None = None,
        min_new_tokens: int = 30,
        max_new_tokens: int = 1024,
        max_per_group: int = 2,
        max_cues: int = 4,
        answer_in_continuation: bool = True,
        cues: Sequence[str] = RETHINK_CUES,
        seed: int = 0,
    ) -> None:
        if len(generic_triggers) != len(generic_weights):
            raise ConfigError(
                f"rethink.generic_weights has {len(generic_weights)} weights for {len(generic_triggers)} "
                "generic_triggers: give one weight per trigger"
            )
        for key, value in (
            ("skip_prob", skip_prob),
            ("skip_wrong_above", skip_wrong_above),
            ("truncate_prob", truncate_prob),
            ("generic_prob", generic_prob),
        ):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"rethink.{key}={value} must be in [0, 1]")
        if min_new_tokens < 0 or max_new_tokens <= min_new_tokens:
            raise ConfigError(
                f"rethink.min_new_tokens={min_new_tokens}, max_new_tokens={max_new_tokens}: need "
                "0 <= min_new_tokens < max_new_tokens"
            )
        if max_per_group < 1 or max_cues < 0:
            raise ConfigError(f"rethink.max_per_group={max_per_group} must be >= 1, max_cues={max_cues} >= 0")
        # A plain partial: Hydra's re-authorizes its target on every call (vrl.partials).
        self.accuracy_fn = plain_partial(accuracy_fn)
        self.skip_prob = skip_prob
        self.skip_wrong_above = skip_wrong_above
        self.max_response_tokens = max_response_tokens
        self.truncate_prob = truncate_prob
        self.cut_markers = tuple(cut_markers)
        self.generic_prob = generic_prob
        self.generic_triggers = tuple(generic_triggers)
        self.generic_weights = tuple(float(w) for w in generic_weights)
        self.verification_triggers = tuple(verification_triggers)
        self.correction_triggers = tuple(correction_triggers)
        self.sampling = check_overrides("rethink.sampling", {"temperature": 0.9, **(sampling or {})})
        self.min_new_tokens = min_new_tokens
        self.max_new_tokens = max_new_tokens
        self.max_per_group = max_per_group
        self.max_cues = max_cues
        self.answer_in_continuation = answer_in_continuation
        self.cues = tuple(cues)
        self._rng = random.Random(seed)

    def augment(
        self, batch: list[Trajectory], continue_fn: ContinueFn
    ) -> tuple[list[Trajectory], dict[str, float]]:
        """The batch with accepted rethought responses in their originals' slots, and stats."""
        if not batch:
            return [], {}
        correct = self._correct(batch)
        group_accuracy = _group_means(batch, correct)

        attempts: list[tuple[int, str]] = []  # (slot, prefix text)
        truncated = 0
        for slot, traj in enumerate(batch):
            if not self._eligible(traj, correct[slot], group_accuracy[traj.group_id]):
                continue
            base = traj.text
            if self._rng.random() < self.truncate_prob:
                cut = cut_before_answer(traj.text, self.cut_markers)
                if cut is not None:
                    base, truncated = cut, truncated + 1
            attempts.append((slot, base + self._trigger(correct[slot])))

        continuations = (
            continue_fn([(batch[slot], prefix) for slot, prefix in attempts], **self.sampling)
            if attempts
            else []
        )
        if len(continuations) != len(attempts):
            raise ValueError(
                f"continue_fn returned {len(continuations)} continuations for {len(attempts)} prefixes"
            )

        rejected: Counter[str] = Counter()
        candidates: list[tuple[int, Trajectory]] = []
        judged: list[Trajectory] = []  # what the answer check reads, one per candidate
        for (slot, prefix), out in zip(attempts, continuations):
            out = Continuation(*out)
            reason = self._reject_reason(prefix + out.text, out)
            if reason:
                rejected[reason] += 1
                continue
            rethought = self._rethought(batch[slot], prefix, out)
            candidates.append((slot, rethought))
            judged.append(replace(rethought, text=out.text) if self.answer_in_continuation else rethought)

        accepted: dict[int, Trajectory] = {}
        if candidates:
            now_correct = self._correct(judged)
            per_group: Counter[int] = Counter()
            for (slot, traj), ok in zip(candidates, now_correct):
                if not ok:
                    rejected["wrong"] += 1
                elif per_group[traj.group_id] >= self.max_per_group:
                    rejected["quota"] += 1
                else:
                    per_group[traj.group_id] += 1
                    accepted[slot] = traj

        output = [accepted.get(slot, traj) for slot, traj in enumerate(batch)]
        return output, self._stats(batch, attempts, truncated, accepted, rejected)

    def _correct(self, trajectories: list[Trajectory]) -> list[bool]:
        completions, fields = reward_inputs(trajectories)
        return [v is not None and v > 0.5 for v in self.accuracy_fn(completions, **fields)]

    def _eligible(self, traj: Trajectory, correct: bool, group_accuracy: float) -> bool:
        if traj.forced or not traj.finished or not all(traj.loss_mask):
            return False
        if self.max_response_tokens is not None and len(traj.response_ids) > self.max_response_tokens:
            return False
        if not correct and group_accuracy > self.skip_wrong_above:
            return False
        return self._rng.random() >= self.skip_prob

    def _trigger(self, correct: bool) -> str:
        if self._rng.random() < self.generic_prob:
            return self._rng.choices(self.generic_triggers, weights=self.generic_weights)[0]
        return self._rng.choice(self.verification_triggers if correct else self.correction_triggers)

    def _reject_reason(self, text: str, out: Continuation) -> str | None:
        if not self.min_new_tokens < len(out.token_ids) < self.max_new_tokens:
            return "length"
        if not out.finished:
            return "unfinished"
        if count_cues(text, self.cues) > self.max_cues:
            return "cues"
        return None

    @staticmethod
    def _rethought(original: Trajectory, prefix: str, out: Continuation) -> Trajectory:
        response_ids = list(out.prefix_ids) + list(out.token_ids)
        return replace(
            original,
            response_ids=response_ids,
            loss_mask=[1] * len(response_ids),
            text=prefix + out.text,
            finished=bool(out.finished),
            forced=True,
            old_log_probs=None,
            sampling_log_probs=None,  # the prefix was re-encoded and the trigger never sampled
            reward=None,
            advantage=None,
        )

    def _stats(
        self,
        batch: list[Trajectory],
        attempts: list[tuple[int, str]],
        truncated: int,
        accepted: dict[int, Trajectory],
        rejected: Counter[str],
    ) -> dict[str, float]:
        native = [count_cues(t.text, self.cues) for t in batch]
        forced = [count_cues(t.text, self.cues) for t in accepted.values()]
        n_attempts = len(attempts)
        stats = {
            "rethink/attempt_rate": n_attempts / len(batch),
            "rethink/accept_rate": len(accepted) / n_attempts if n_attempts else 0.0,
            "rethink/replaced_frac": len(accepted) / len(batch),
            "rethink/truncated_frac": truncated / n_attempts if n_attempts else 0.0,
            "rethink/native_cues_mean": sum(native) / len(batch),
            "rethink/native_cue_rate": sum(n > 0 for n in native) / len(batch),
            "rethink/forced_cues_mean": sum(forced) / len(forced) if forced else 0.0,
        }
        for reason in ("length", "unfinished", "cues", "wrong", "quota"):
            stats[f"rethink/rejected/{reason}"] = float(rejected[reason])
        return stats

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self._rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]  # tuples may come back as lists from a checkpoint
        self._rng.setstate((version, tuple(internal), gauss))


def _group_means(batch: list[Trajectory], values: list[bool]) -> dict[int, float]:
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for traj, value in zip(batch, values):
        totals[traj.group_id][0] += int(value)
        totals[traj.group_id][1] += 1
    return {group: hits / count for group, (hits, count) in totals.items()}
