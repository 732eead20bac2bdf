"""Answers: pull the answer out of a response, decide whether it matches the gold one.

The one answer-parsing layer under `reward`, `data`, `benchmark` and `rethink`:
- `extraction`: the final answer of a free-form response (`\\boxed{}`, answer tags, option
  letters, "the answer is ..." phrases).
- `equivalence`: whether two answers agree (numbers, math-verify for symbolic answers,
  normalised strings for words and option letters).
- `final`: a response's committed answer and `answer_is_correct(text, answer, type, choices)`.
- `judge`: rule and model judges (`OpenAIJudge`, `ModelJudge`) with a rule fallback.
- `cues`: the rethinking cues ("wait,", ...) and how they are counted.
"""
