"""Scorers: the tricky cases of each official protocol, the peer-toolkit bugs as regressions,
and the metrics with their breakdowns."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

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
from vrl.benchmark.base import ItemScore, score_many
from vrl.benchmark.mmmu import eval_open, parse_multi_choice_response, parse_open_response
from vrl.benchmark.vtbench import image_marks_match
from vrl.benchmark.wemath import extract_wemath_answer, four_dimensional

F = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"


def samples(bench):
    return {s.id.split("/", 1)[1]: s for s in bench.load()}


def correct(bench, sample, response) -> bool:
    return bench.score(response, sample).correct


# ------------------------------------------------------------------ MathVista
@pytest.fixture(scope="module")
def mathvista():
    bench = MathVista(path=str(F / "mathvista"))
    return bench, samples(bench)


def test_mathvista_option_text_gold(mathvista):
    bench, s = mathvista
    assert correct(bench, s["1"], "... \\boxed{C}")
    assert correct(bench, s["1"], "The answer is (C) Europe.")
    assert correct(bench, s["1"], "\\boxed{Europe}")  # option text also counts
    assert not correct(bench, s["1"], "\\boxed{A}")


def test_mathvista_bare_E_is_not_europe(mathvista):
    """lmms-eval regression: a bare "E" must not score for the option text "Europe"."""
    bench, s = mathvista
    assert not correct(bench, s["1"], "\\boxed{E}")
    assert not correct(bench, s["1"], "E")
    assert not correct(bench, s["1"], "Asai")  # no Levenshtein snapping to the nearest option
    assert bench.score("I cannot tell which continent this map shows at all.", s["1"]).extracted is None


def test_mathvista_numbers(mathvista):
    bench, s = mathvista
    assert correct(bench, s["2"], "\\boxed{4}") and correct(bench, s["2"], "\\boxed{4.0}")
    assert correct(bench, s["2"], "\\boxed{4.7}")  # official rule: str(int(float(x))) truncates
    assert correct(bench, s["3"], "\\boxed{1.54}") and not correct(
        bench, s["3"], "\\boxed{1.56}"
    )  # precision 1
    assert correct(bench, s["4"], "\\boxed{0.333}") and not correct(
        bench, s["4"], "\\boxed{0.3}"
    )  # precision 2
    assert correct(bench, s["5"], "\\boxed{[2007,2008]}") and not correct(
        bench, s["5"], "\\boxed{[2008, 2007]}"
    )
    assert correct(bench, s["6"], "\\boxed{13 cm}")


def test_mathvista_metrics_breakdowns(mathvista):
    bench, s = mathvista
    items = [(s["1"], bench.score("\\boxed{C}", s["1"])), (s["2"], bench.score("\\boxed{5}", s["2"]))]
    m = bench.metrics(items)
    assert m["accuracy"] == 50.0 and m["count"] == 2
    assert m["accuracy/question_type/multi_choice"] == 100.0 and m["accuracy/answer_type/integer"] == 0.0
    assert m["accuracy/skills/scientific reasoning"] == 100.0 and "accuracy/category/general-vqa" in m


# ------------------------------------------------------------------ MathVerse
def test_mathverse_rule_path():
    bench = MathVerse(path=str(F / "mathverse"))
    s = samples(bench)
    assert correct(bench, s["1"], "The answer is B")
    assert correct(bench, s["1"], "\\boxed{This is not a function}")  # the option's content
    assert not correct(bench, s["1"], "\\boxed{This is a function}")
    assert correct(bench, s["2"], "\\boxed{B}")  # Vision Only: choices live in the image
    assert correct(bench, s["3"], "\\boxed{\\frac{1}{2}}") and not correct(bench, s["3"], "\\boxed{2}")
    assert correct(bench, s["4"], "\\boxed{y = 1 + x^2}")
    score = bench.score("\\boxed{B}", s["1"])
    assert score.judge == "rule"
    m = bench.metrics([(s["1"], score), (s["3"], bench.score("no idea", s["3"]))])
    assert (
        m["accuracy/problem_version/Text Dominant"] == 100.0
        and m["accuracy/problem_version/Text Lite"] == 0.0
    )
    assert m["judge/model_fraction"] == 0.0


# ------------------------------------------------------------------ MathVision
def test_mathvision_letter_or_text_and_two_decimals():
    bench = MathVision(path=str(F / "mathvision"))
    s = samples(bench)
    assert correct(bench, s["1"], "\\boxed{C}") and correct(bench, s["1"], "\\boxed{2.5}")  # letter or value
    assert correct(bench, s["1"], "\\boxed{2.50}") and not correct(bench, s["1"], "\\boxed{circle}")
    assert correct(bench, s["2"], "\\boxed{12}") and not correct(bench, s["2"], "\\boxed{13}")
    assert correct(bench, s["3"], "\\boxed{0.33}") and correct(bench, s["3"], "\\boxed{1/3}")
    assert correct(bench, s["4"], "\\boxed{2.72}") and not correct(bench, s["4"], "\\boxed{2.7}")
    m = bench.metrics([(v, bench.score("\\boxed{C}", v)) for v in s.values()])
    assert m["accuracy"] == 25.0 and m["accuracy/level/2"] == 100.0


# ------------------------------------------------------------------ MMMU / MMMU-Pro
def test_mmmu_no_letter_is_wrong_deterministically():
    """MMMU's official parser picks a random letter here; we score wrong, every time."""
    bench = MMMU(path=str(F / "mmmu"), subjects=["Accounting", "Geography"])
    s = samples(bench)
    results = {
        bench.score("I am not sure about this one.", s["validation_Accounting_1"]).correct for _ in range(20)
    }
    assert results == {False}
    assert parse_multi_choice_response("no options named", {"A": "x1", "B": "x2"}) is None


def test_mmmu_multiple_choice_rules():
    bench = MMMU(path=str(F / "mmmu"), subjects=["Accounting", "Geography"])
    s = samples(bench)["validation_Accounting_1"]
    assert correct(bench, s, "Reasoning...\nAnswer: B")
    assert correct(bench, s, "I think (A) is tempting but (B) is right")  # last bracketed letter
    assert correct(bench, s, "After computing everything the net income equals $20 overall")  # option content
    assert not correct(bench, s, "Answer: A")


def test_mmmu_open_rules():
    bench = MMMU(path=str(F / "mmmu"), subjects=["Accounting", "Geography"])
    s = samples(bench)
    europe, population = s["validation_Geography_1"], s["validation_Geography_2"]
    assert correct(bench, europe, "The continent shown is Europe.")
    assert not correct(bench, europe, "E")  # a single letter only matches as a word
    assert correct(bench, population, "So the population is 24.0 million")  # list gold, numeric match
    assert not correct(bench, population, "So the population is 25 million")
    assert 24.0 in parse_open_response("therefore the answer is 24")
    assert not eval_open("Europe", parse_open_response("e"))


def test_mmmu_pro_answer_line():
    std = MMMU(path=str(F / "mmmu_pro"), variant="pro_standard", split="test")
    s = samples(std)
    assert correct(std, s["test_Art_1"], "Thinking...\nAnswer: J")  # a 10-option letter
    assert not correct(std, s["test_Art_1"], "Answer: K")
    m = std.metrics([(v, std.score("Answer: C", v)) for v in s.values()])
    assert m["accuracy/subject/Math"] == 100.0 and m["accuracy/subject/Art"] == 0.0


# ------------------------------------------------------------------ EMMA
def test_emma():
    bench = EMMA(path=str(F / "emma"), subjects=["Math", "Physics"])
    s = samples(bench)
    assert correct(bench, s["math_1"], "\\boxed{C}") and correct(bench, s["math_1"], "\\boxed{3}")
    assert correct(bench, s["math_2"], "\\boxed{14}") and not correct(bench, s["math_2"], "\\boxed{15}")
    assert not correct(bench, s["physics_1"], "no boxed answer in a long explanation of forces here")
    m = bench.metrics([(v, bench.score("\\boxed{B}", v)) for v in s.values()])
    assert m["accuracy/subject/Physics"] == 100.0 and m["accuracy/category/Mechanics"] == 100.0


# ------------------------------------------------------------------ We-Math
def test_wemath_official_extraction():
    assert extract_wemath_answer("<Thought process>: <<...>> <Answer>: <<B>>") == "B"
    assert extract_wemath_answer("Answer: C.") == "C"
    assert extract_wemath_answer("Answer: none of them") is None
    assert extract_wemath_answer("so \\boxed{D}") == "D"


def test_wemath_four_dimensional():
    # problem 1 (2 steps): steps right, multi wrong -> IG; problem 2 (3 steps): a step wrong, multi right -> RM strict
    problems = {
        "1": {"2steps_1": True, "2steps_2": True, "2steps_multi": False},
        "2": {"3steps_1": True, "3steps_2": False, "3steps_3": True, "3steps_multi": True},
        "3": {"2steps_1": True},  # incomplete: dropped, like the official merge
    }
    m = four_dimensional(problems)
    assert m["wemath/problems"] == 2 and m["wemath/IG"] == 50.0 and m["wemath/IK"] == 0.0
    assert m["wemath/CM_strict"] == 0.0 and m["wemath/CM_loose"] == 50.0
    assert m["wemath/RM_strict"] == 100.0 and m["wemath/RM_loose"] == 0.0
    assert m["score_strict"] == pytest.approx(100 * (2 - 0.5 - 1) / 2)
    assert m["score_loose"] == pytest.approx(100 * (2 - 0.5) / 2)
    assert m["accuracy/steps/S1"] == pytest.approx(100 * 4 / 5)


def test_wemath_end_to_end():
    bench = WeMath(path=str(F / "wemath"))
    items = [(s, bench.score(f"<Answer>: <<{s.answer}>>", s)) for s in bench.load()]
    m = bench.metrics(items)
    assert m["accuracy"] == 100.0 and m["score_strict"] == 100.0 and m["wemath/CM_strict"] == 100.0


# ------------------------------------------------------------------ DynaMath
def test_dynamath_tolerance_and_worst_case():
    bench = DynaMath(path=str(F / "dynamath"), split=["sample_variant1", "sample_variant2"])
    s = samples(bench)
    v1, v2 = "sample_variant1", "sample_variant2"
    assert correct(bench, s[f"{v1}/2"], '{"solution": "...", "short answer": "3.1415"}')  # |err| <= 1e-3
    assert not correct(bench, s[f"{v1}/2"], '{"solution": "...", "short answer": "3.144"}')
    assert correct(bench, s[f"{v1}/1"], '{"short answer": "B"}') and correct(
        bench, s[f"{v1}/3"], "\\boxed{y=2x}"
    )
    items = [(v, bench.score('{"short answer": "B"}', v)) for v in s.values()]
    m = bench.metrics(items)
    assert m["accuracy"] == pytest.approx(100 / 6) and m["worst_case_accuracy"] == 0.0
    items = [(s[f"{v}/1"], ItemScore("x", True, 1.0)) for v in (v1, v2)] + [
        (s[f"{v1}/2"], ItemScore("x", False, 0.0))
    ]
    assert bench.metrics(items)["worst_case_accuracy"] == 50.0


# ------------------------------------------------------------------ LogicVista
def test_logicvista_letter_sets():
    bench = LogicVista(path=str(F / "logicvista" / "data"))
    s = samples(bench)
    assert correct(bench, s["v1_1"], "\\boxed{C, A}") and correct(bench, s["v1_1"], "Answer: A and C")
    assert not correct(bench, s["v1_1"], "\\boxed{A}") and not correct(bench, s["v1_1"], "\\boxed{A, B, C}")
    assert correct(bench, s["v1_20"], "\\boxed{3}") and not correct(bench, s["v1_20"], "\\boxed{C}")
    m = bench.metrics([(v, bench.score("\\boxed{C}", v)) for v in s.values()])
    assert m["accuracy/skill/inductive"] == 50.0 and m["accuracy/capability/ocr"] == 50.0


# ------------------------------------------------------------------ ChartQA
def test_chartqa_relaxed_accuracy():
    bench = ChartQA(path=str(F / "chartqa"))
    s = list(bench.load())
    assert correct(bench, s[0], "\\boxed{104}") and not correct(bench, s[0], "\\boxed{106}")
    assert correct(bench, s[0], "\\boxed{$100.}")
    assert correct(bench, s[1], "\\boxed{japan}") and not correct(bench, s[1], "\\boxed{Japa}")
    assert not correct(bench, s[2], "\\boxed{45%}")  # pix2struct reads 45% as 0.45
    assert correct(bench, s[3], "\\boxed{0}") and not correct(bench, s[3], "\\boxed{0.01}")
    m = bench.metrics([(v, bench.score("\\boxed{104}", v)) for v in s])
    assert m["accuracy/human_or_machine/human"] == 50.0 and m["accuracy/human_or_machine/machine"] == 0.0


# ------------------------------------------------------------------ VTBench
def _mark(image: Image.Image, x: int, y: int, r: int) -> Image.Image:
    out = image.convert("RGB").copy()
    ImageDraw.Draw(out).ellipse([x - r, y - r, x + r, y + r], fill=(0, 0, 255))
    return out


def test_vtbench_image_rule():
    bench = VTBench(path=str(F / "vtbench"), task="perception")
    s = samples(bench)["1"]  # the annotation marks (12, 12)
    original = s.images[0]
    assert bench.score("", s, generated_image=_mark(original, 13, 12, 2)).correct  # colour/offset ignored
    assert not bench.score("", s, generated_image=_mark(original, 40, 40, 2)).correct  # wrong place
    assert not bench.score("", s, generated_image=original).correct  # unchanged
    missing = bench.score("I drew it.", s)
    assert (missing.correct, missing.extracted, missing.details["reason"]) == (False, None, "no_image")
    ok, info = image_marks_match(original, _mark(original, 12, 12, 2), _mark(original, 12, 12, 2))
    assert ok and info["recall"] == 1.0


def test_vtbench_generated_image_path_in_response(tmp_path):
    bench = VTBench(path=str(F / "vtbench"), task="instruction")
    s = samples(bench)["1"]  # the annotation marks (30, 30)
    path = tmp_path / "out.png"
    _mark(s.images[0], 30, 30, 3).save(path)
    assert bench.score(f"<sandbox_output>processed_path: {path}</sandbox_output>", s).correct


def test_vtbench_reasoning_rule():
    bench = VTBench(path=str(F / "vtbench"), task="reasoning")
    s = samples(bench)
    assert correct(bench, s["1"], "<answer>B</answer>") and correct(bench, s["1"], "<answer>4</answer>")
    assert correct(bench, s["2"], "<answer>0.5</answer>") and not correct(bench, s["2"], "<answer>2</answer>")
    scores = score_many(bench, ["<answer>B</answer>", "x"], [s["1"], s["2"]])
    assert [x.correct for x in scores] == [True, False] and {x.judge for x in scores} == {"rule"}
