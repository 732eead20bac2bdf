"""Scoring throughput: score N synthetic items across every benchmark scorer, print items/s.

Items are built from rows in each benchmark's published schema (through the real
`to_sample`), responses are ~1 KB of reasoning text ending in a varied answer format (boxed,
"Answer:", <answer>, JSON, option text, symbolic fractions, nothing at all), so extraction,
number parsing, option matching and math-verify (for symbolic answers) all run. Pure scoring
only: no model, no judge, one process.

    python scripts/bench_scoring.py --items 10000
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict

from PIL import Image

from vrl.answer.equivalence import symbolic_equal
from vrl.benchmark import (
    EMMA,
    MMMU,
    ChartQA,
    DynaMath,
    LogicVista,
    MathVerse,
    MathVision,
    MathVista,
    VTBench,
    WeMath,
)

IMG = Image.new("RGB", (8, 8), "white")
FILLER = "Let us look at the figure carefully and reason step by step about every quantity shown. " * 12


def _items(rng: random.Random, n: int):
    """Yield (benchmark, sample, response) triples, cycling over the benchmarks."""
    makers = [
        _mathvista,
        _mathverse,
        _mathvision,
        _mmmu,
        _emma,
        _wemath,
        _dynamath,
        _logicvista,
        _chartqa,
        _vtbench,
    ]
    for i in range(n):
        yield makers[i % len(makers)](rng, i)


def _num(rng):
    return rng.choice([str(rng.randint(0, 999)), f"{rng.uniform(0, 100):.2f}"])


def _wrap(rng, answer: str) -> str:
    style = rng.random()
    if style < 0.5:
        return f"{FILLER}So the result is \\boxed{{{answer}}}."
    if style < 0.7:
        return f"{FILLER}\nAnswer: {answer}"
    if style < 0.85:
        return f"<think>{FILLER}</think><answer>{answer}</answer>"
    return FILLER  # no answer at all


BENCH = {
    "mathvista": MathVista(),
    "mathverse": MathVerse(),
    "mathvision": MathVision(),
    "mmmu": MMMU(),
    "emma": EMMA(),
    "wemath": WeMath(),
    "dynamath": DynaMath(),
    "logicvista": LogicVista(),
    "chartqa": ChartQA(),
    "vtbench": VTBench(task="reasoning"),
}


def _mathvista(rng, i):
    b = BENCH["mathvista"]
    choices = ["Asia", "Africa", "Europe", "Oceania"]
    if i % 2:
        row = dict(
            question_type="multi_choice",
            answer_type="text",
            choices=choices,
            answer=rng.choice(choices),
            precision=None,
        )
        resp = _wrap(rng, rng.choice(["A", "B", "C", "D", "Europe", "(C) Europe"]))
    else:
        gold = f"{rng.uniform(0, 10):.1f}"
        row = dict(question_type="free_form", answer_type="float", choices=None, answer=gold, precision=1.0)
        resp = _wrap(rng, rng.choice([gold, _num(rng)]))
    row.update(
        pid=str(i), question="q", decoded_image=IMG, unit=None, metadata={"category": "math"}, query="q"
    )
    return b, b.to_sample(row), resp


def _mathverse(rng, i):
    b = BENCH["mathverse"]
    mc = i % 2 == 0
    q = "Find x.\nChoices:\nA:1\nB:2\nC:3\nD:4" if mc else "Find the expression."
    a, b_ = rng.randint(1, 99), rng.randint(1, 99)
    gold = rng.choice("ABCD") if mc else f"{a}x+{b_}"  # symbolic: goes to math-verify
    row = dict(
        sample_index=str(i),
        problem_index=str(i),
        problem_version="Text Lite",
        question=q,
        image=IMG,
        answer=gold,
        question_type="multi-choice" if mc else "free-form",
        metadata={"subject": "s", "subfield": "f"},
        query_cot=q,
        question_for_eval=q,
    )
    pred = (
        rng.choice("ABCD") if mc else rng.choice([f"{b_}+{a}x", f"{a}x+{b_ + 1}", rf"\frac{{{a}}}{{{b_}}}"])
    )
    return b, b.to_sample(row), _wrap(rng, pred)


def _mathvision(rng, i):
    b = BENCH["mathvision"]
    gold = str(rng.randint(0, 50))
    row = dict(id=str(i), question="q", options=[], decoded_image=IMG, answer=gold, level=1, subject="s")
    return b, b.to_sample(row), _wrap(rng, rng.choice([gold, _num(rng)]))


def _mmmu(rng, i):
    b = BENCH["mmmu"]
    row = {f"image_{k}": None for k in range(1, 8)}
    mc = i % 2 == 0
    row.update(
        id=f"validation_Math_{i}",
        question="<image 1> q",
        options="['1', '2', '3', '4']" if mc else "[]",
        image_1=IMG,
        answer=rng.choice("ABCD") if mc else _num(rng),
        question_type="multiple-choice" if mc else "open",
        subfield="x",
        topic_difficulty="Easy",
    )
    pred = rng.choice("ABCD") if mc else _num(rng)
    return b, b.to_sample(row), _wrap(rng, pred)


def _emma(rng, i):
    b = BENCH["emma"]
    row = {f"image_{k}": None for k in range(1, 6)}
    row.update(
        pid=str(i),
        question="<image_1> q",
        options=["1", "2", "3", "4"],
        answer=rng.choice("ABCD"),
        image_1=IMG,
        subject="Math",
        category="c",
        type="Multiple Choice",
        context="",
    )
    return b, b.to_sample(row), _wrap(rng, rng.choice("ABCD"))


def _wemath(rng, i):
    b = BENCH["wemath"]
    row = {
        "ID": str(i),
        "key": "2steps_1",
        "question": "q",
        "option": "A. 1; B. 2; C. 3; D. 4",
        "answer": rng.choice("ABCD"),
        "image_path": IMG,
        "knowledge concept": "k",
    }
    return b, b.to_sample(row), f"<Thought process>: <<{FILLER}>> <Answer>: <<{rng.choice('ABCD')}>>"


def _dynamath(rng, i):
    b = BENCH["dynamath"]
    gold = f"{rng.uniform(0, 10):.3f}"
    row = dict(
        id=str(i),
        question="q",
        decoded_image=IMG,
        ground_truth=gold,
        answer_type="float",
        subject="s",
        knowledge_level="k",
    )
    resp = f'{{"solution": "{FILLER}", "short answer": "{rng.choice([gold, _num(rng)])}"}}'
    return b, b.to_sample(row, "sample_variant1"), resp


def _logicvista(rng, i):
    b = BENCH["logicvista"]
    row = dict(
        id=str(i),
        image=IMG,
        question="q",
        answer=rng.choice(["A", "B", "A, C"]),
        skill=["inductive"],
        capability=["diagram"],
    )
    return b, b.to_sample(row), _wrap(rng, rng.choice(["A", "B", "C, A"]))


def _chartqa(rng, i):
    b = BENCH["chartqa"]
    gold = str(rng.randint(1, 1000))
    row = dict(image=IMG, query="q", label=[gold], human_or_machine=i % 2)
    return b, b.to_sample(row, i), _wrap(rng, rng.choice([gold, str(int(gold) + 1), "1,234"]))


def _vtbench(rng, i):
    b = BENCH["vtbench"]
    gold = str(rng.randint(1, 99))
    row = dict(id=str(i), image=IMG, question_reasoning="q", answer_reasoning=gold)
    return b, b.to_sample(row), _wrap(rng, rng.choice([gold, _num(rng)]))


def main(n: int = 10_000, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    items = list(_items(rng, n))
    t = time.perf_counter()
    symbolic_equal("x+1", "1+x")  # import math-verify/sympy once, outside the timed loop
    print(f"math-verify warm-up: {time.perf_counter() - t:.2f} s")
    per: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    start = time.perf_counter()
    for bench, sample, response in items:
        t = time.perf_counter()
        bench.score(response, sample)
        per[bench.name][0] += time.perf_counter() - t
        per[bench.name][1] += 1
    total = time.perf_counter() - start
    print(f"{'benchmark':<20}{'items':>8}{'seconds':>10}{'items/s':>12}")
    for name, (secs, count) in sorted(per.items()):
        print(f"{name:<20}{count:>8}{secs:>10.3f}{count / secs:>12.0f}")
    print(f"{'total':<20}{n:>8}{total:>10.3f}{n / total:>12.0f}")
    return {"items": n, "seconds": total, "items_per_s": n / total}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="how many items to score")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic responses")
    args = parser.parse_args()
    main(args.items, args.seed)
