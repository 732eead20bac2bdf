from vrl.benchmark.procedural_holdout import ProceduralHoldout
from vrl.data.procedural import HOLDOUT_SEED_START


def test_holdout_uses_only_holdout_seeds_and_is_deterministic():
    first = [s.id for s in ProceduralHoldout(num_samples=12).load()]
    again = [s.id for s in ProceduralHoldout(num_samples=12).load()]
    assert first == again and len(first) == 12
    assert all(int(i.rsplit("/", 1)[1]) >= HOLDOUT_SEED_START for i in first)


def test_scores_extracted_answers_and_reports_chance():
    bench = ProceduralHoldout(families=["count"], num_samples=4)
    samples = list(bench.load())
    right = [bench.score(f"so \\boxed{{{s.answer}}}", s) for s in samples]
    wrong = [bench.score("I cannot tell", s) for s in samples]
    assert all(r.correct for r in right) and not any(w.correct or w.extracted for w in wrong)
    metrics = bench.metrics(list(zip(samples, right[:2] + wrong[2:])))
    assert metrics["accuracy"] == 50.0
    assert metrics["chance"] == 25.0 and metrics["chance/count"] == 25.0
