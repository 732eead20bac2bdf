"""How often vrl's scorers agree with official per-item results that nobody here wrote.

Three sources, each scored with vrl and compared item by item with the official verdict:
- MathVista (lupantech/MathVista `results/*/output_*.json`): released model outputs with the
  official GPT-4 `extraction`, the normalised `prediction` and `true_false`. vrl's MathVista
  scorer reads the raw `response` (its own extraction) and, separately, the official
  `extraction` (only vrl's normalisation and comparison).
- Math-Verify (huggingface/Math-Verify `tests/*.py`): the (gold, prediction, expected) cases of
  its parametrised tests, judged by vrl's extraction + `is_equivalent(.., "expression")`.
- MMMU (MMMU-Benchmark/MMMU): MMMU validation outputs of two models
  (`mmmu/example_outputs/<model>/<Subject>/output.json`) with the official parsed letters
  (`total_val_output.json`), and MMMU-Pro GPT-4o outputs (`mmmu-pro/output/*.jsonl`) with
  the official `pred_indexs` and `if_right`; plus parser parity: vrl's reimplementation of
  MMMU's `parse_open_response` / `parse_multi_choice_response` against the official
  functions, run (at extraction time, from the fetched checkout) on every released response.

Two steps. `extract` reads the fetched repositories (git directories, read with `git show` at
a pinned commit) and writes normalised JSONL records to a data folder, optionally subsampled
(deterministic: MathVista pids and MMMU validation item numbers divisible by `--every`, every
`--every`-th line of each MMMU-Pro file; Math-Verify whole). `run` scores those records
with vrl and prints the tables. No network in either step.

    python scripts/scorer_agreement.py extract --out /tmp/official_full --every 1
    python scripts/scorer_agreement.py run --data /tmp/official_full
    python scripts/scorer_agreement.py extract --out tests/fixtures/official/data --every 5
    python scripts/scorer_agreement.py run --data tests/fixtures/official/data --json out.json

The data folder is never committed (fetched material stays out of commits); the test
`tests/benchmark/test_scorer_agreement.py` runs `run` on it when it is present.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import subprocess
import sys
import types
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image

from vrl.answer.equivalence import is_equivalent, is_word_answer
from vrl.answer.extraction import extract_final_answer
from vrl.benchmark import MMMU, MathVista
from vrl.benchmark.base import ItemScore
from vrl.benchmark.mmmu import parse_multi_choice_response, parse_open_response
from vrl.data.schema import Sample

MIRROR = Path("/work/.mirror")
REPOS = {
    "mathvista": ("lupantech/MathVista", "53d525874bdde205128e6b160b7357a88277d479"),
    "math_verify": ("huggingface/Math-Verify", "5d148cfaaf99214c2e4ffb4bc497ab042c592a7a"),
    "mmmu": ("MMMU-Benchmark/MMMU", "bb0b95a945998d91dfef37e969e07d49d1139438"),
}
# MathVista outputs written in prose (the code-generating "2shot_code" runs answer with a program
# whose execution the official extraction reads; random/frequent guesses and the leaderboard
# template are synthetic). Files of 4 MiB and more are not in the snapshot (the caption runs).
MATHVISTA_FILES = [
    "results/bard/output_bard.json",
    "results/chatgpt/output_chatgpt.json",
    "results/chatgpt/output_chatgpt_2shot_solution.json",
    "results/chatgpt/output_chatgpt_2shot_solution_use_ocr.json",
    "results/claude/output_claude.json",
    "results/claude/output_claude_2shot_solution.json",
    "results/claude/output_claude_2shot_solution_use_ocr.json",
    "results/gpt4/output_gpt4.json",
    "results/gpt4/output_gpt4_2shot_solution.json",
    "results/gpt4/output_gpt4_2shot_solution_use_ocr.json",
    "results/idefics/output_idefics_9b_instruct.json",
    "results/instruct_blip2/output_instruct_blip2_vicuna_13b.json",
    "results/llama_adapter_v2/output_llama_adapter_v2.json",
    "results/llava/output_llava_llama_2_13b.json",
    "results/llavar/output_llavar.json",
    "results/minigpt4/output_minigpt4_llama2.json",
    "results/mplugowl/output_mplugowl_7b_ft.json",
]
MATH_VERIFY_FILES = [
    "tests/test_all.py",
    "tests/test_boxed.py",
    "tests/test_numina_cases.py",
    "tests/test_open_thoughts.py",
    "tests/test_strict.py",
    "tests/test_yujianll.py",
]
MMMU_EVAL = "mmmu/utils/eval_utils.py"
MMMU_MODELS = ["llava1.5_13b", "qwen_vl"]
MMMU_PRO_FILES = [
    "mmmu-pro/output/gpt-4o_standard(10 options)_cot.jsonl",
    "mmmu-pro/output/gpt-4o_standard(10 options)_direct.jsonl",
    "mmmu-pro/output/gpt-4o_vision_cot.jsonl",
    "mmmu-pro/output/gpt-4o_vision_direct.jsonl",
]
_PIXEL = Image.new("RGB", (1, 1))


# ---------------------------------------------------------------- extract


def _git_show(key: str, path: str, mirror: Path) -> str:
    repo, commit = REPOS[key]
    git_dir = mirror / repo.replace("/", "+") / "repo"
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _write(out: Path, name: str, rows: list[dict]) -> None:
    with open(out / name, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)} records")


def extract_mathvista(mirror: Path, every: int) -> list[dict]:
    keep = ("pid", "question_type", "answer_type", "precision", "choices", "unit", "answer")
    rows = []
    for path in MATHVISTA_FILES:
        results = json.loads(_git_show("mathvista", path, mirror))
        model = Path(path).stem.removeprefix("output_")
        for pid, item in results.items():
            if int(pid) % every == 0:
                rows.append(
                    {"model": model, **{k: item[k] for k in keep}}
                    | {k: item.get(k) for k in ("response", "extraction", "prediction", "true_false")}
                )
    return rows


def extract_math_verify(mirror: Path) -> list[dict]:
    """Every literal case of the parametrised (gold, pred, ..., expected) tests."""
    rows = []
    for path in MATH_VERIFY_FILES:
        tree = ast.parse(_git_show("math_verify", path, mirror))
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            options = _compare_options(fn)
            for deco in fn.decorator_list:
                if not (isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize"):
                    continue
                names = [s.strip() for s in ast.literal_eval(deco.args[0]).split(",")]
                for case in deco.args[1].elts:
                    try:
                        values = dict(zip(names, ast.literal_eval(case)))
                    except ValueError:  # a computed case (an f-string): not a literal, skipped
                        continue
                    expected = values.pop("expected", values.pop("result", None))
                    gold, pred = values.pop("gold"), values.pop("pred")
                    rows.append(
                        {
                            "test": f"{Path(path).stem}::{fn.name}",
                            "gold": gold,
                            "pred": pred,
                            "expected": bool(expected),
                            "params": options | values,
                        }
                    )
    return rows


def _compare_options(fn: ast.FunctionDef) -> dict:
    """Literal keyword arguments of the test's `compare_strings(...)` call (match_types, precision)."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "compare_strings":
            out = {}
            for kw in node.keywords:
                try:
                    out[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    continue  # a parametrised value: recorded per case
            return out
    return {}


def _official_mmmu(mirror: Path, path: str) -> types.ModuleType:
    """One of MMMU's own evaluation modules, loaded from the fetched checkout (run, never copied)."""
    target = Path("/tmp") / f"scorer_agreement_{Path(path).parent.name}_{Path(path).name}"
    target.write_text(_git_show("mmmu", path, mirror))
    spec = importlib.util.spec_from_file_location(target.stem, target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # No option found -> the official parser picks a random letter; mark those instead.
    module.random = types.SimpleNamespace(choice=lambda choices: None)
    return module


def extract_mmmu(mirror: Path, every: int) -> tuple[list[dict], list[dict]]:
    official = _official_mmmu(mirror, MMMU_EVAL)
    official_pro = _official_mmmu(mirror, "mmmu-pro/evaluate.py")
    val = []
    for model in MMMU_MODELS:
        base = f"mmmu/example_outputs/{model}"
        parsed = json.loads(_git_show("mmmu", f"{base}/total_val_output.json", mirror))
        subjects = subprocess.run(
            ["git", "--git-dir", str(mirror / "MMMU-Benchmark+MMMU" / "repo"), "ls-tree", "--name-only"]
            + [REPOS["mmmu"][1], f"{base}/"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        for folder in subjects:
            if folder.endswith(".json"):
                continue
            for item in json.loads(_git_show("mmmu", f"{folder}/output.json", mirror)):
                if int(item["id"].rsplit("_", 1)[1]) % every:
                    continue
                row = {"model": model, **{k: item[k] for k in ("id", "question_type", "answer", "response")}}
                row["index2ans"] = item.get("index2ans") or {}
                row["official_pred"] = parsed.get(item["id"])
                if item["question_type"] == "multiple-choice":
                    row["official_correct"] = row["official_pred"] == item["answer"]
                    found = official.parse_multi_choice_response(
                        item["response"], list(row["index2ans"]), row["index2ans"]
                    )
                    row["official_random"] = found is None
                else:  # main_parse_and_eval.py: the official parse of the response, then eval_open
                    preds = official.parse_open_response(item["response"])
                    row["official_pred"] = sorted(preds, key=repr)
                    row["official_correct"] = bool(official.eval_open(_gold_list(item["answer"]), preds))
                    row["official_random"] = False
                val.append(row)
    pro = []
    for path in MMMU_PRO_FILES:
        lines = _git_show("mmmu", path, mirror).splitlines()
        for i, line in enumerate(lines):
            if i % every:
                continue
            item = json.loads(line)
            response = item["response"] if isinstance(item["response"], str) else ""
            index2ans = _index2ans(item["options"])
            found = official_pro.parse_multi_choice_response(response, list(index2ans), index2ans)
            pro.append(
                {"file": Path(path).stem, **{k: item[k] for k in ("id", "answer", "options")}}
                | {"response": response, "pred_indexs": item.get("pred_indexs")}
                | {"if_right": str(item.get("if_right")) == "True", "official_random": found is None}
            )
    return val, pro


def add_official_parses(mirror: Path, rows: list[dict], options_key: str) -> None:
    """Store the official MMMU parsers' output on each record's response (parser parity)."""
    official = _official_mmmu(mirror, MMMU_EVAL)
    for row in rows:
        text = row["response"] or ""
        index2ans = row["index2ans"] if options_key == "index2ans" else _index2ans(row[options_key])
        row["official_mc"] = (
            official.parse_multi_choice_response(text, list(index2ans), index2ans) if index2ans else None
        )
        row["official_open"] = sorted(official.parse_open_response(text), key=repr)


def _gold_list(answer):
    return ast.literal_eval(answer) if isinstance(answer, str) and answer.startswith("[") else answer


def _index2ans(options) -> dict[str, str]:
    opts = ast.literal_eval(options) if isinstance(options, str) else list(options or [])
    return {chr(65 + i): str(o) for i, o in enumerate(opts)}


def extract(out: Path, every: int, mirror: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    mathvista = extract_mathvista(mirror, every)
    val, pro = extract_mmmu(mirror, every)
    # Parser parity: the official MMMU parsers on every released response kept.
    add_official_parses(mirror, mathvista, "choices")
    add_official_parses(mirror, val, "index2ans")
    add_official_parses(mirror, pro, "options")
    _write(out, "mathvista.jsonl", mathvista)
    _write(out, "math_verify.jsonl", extract_math_verify(mirror))
    _write(out, "mmmu_val.jsonl", val)
    _write(out, "mmmu_pro.jsonl", pro)
    sources = {k: {"repo": r, "commit": c} for k, (r, c) in REPOS.items()}
    sources["every"] = every
    (out / "SOURCES.json").write_text(json.dumps(sources, indent=2) + "\n")


# ---------------------------------------------------------------- run


def _read(data: Path, name: str) -> list[dict]:
    path = data / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _pct(hits: int, total: int) -> float:
    return round(100.0 * hits / total, 2) if total else 0.0


def _mathvista_route(row: dict) -> str:
    """How the official normaliser reached its multiple-choice prediction."""
    extraction = str(row["extraction"] or "").strip()
    letters = [chr(65 + i) for i in range(len(row["choices"]))]
    bracketed = re.findall(r"\(([a-zA-Z])\)", extraction)
    if (bracketed[0].upper() if bracketed else extraction) in letters:
        return "letter"
    return "text" if extraction in row["choices"] else "snap"


def mathvista_agreement(rows: list[dict]) -> dict:
    """vrl's MathVista scorer on the raw response and on the official extraction, vs `true_false`."""
    bench = MathVista()
    out = {"items": 0, "raw": Counter(), "extraction": Counter(), "examples": defaultdict(list)}
    per_model: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        sample = bench.to_sample({**row, "question": "", "metadata": {}, "decoded_image": _PIXEL})
        if not isinstance(sample, Sample):
            continue
        out["items"] += 1
        official = bool(row["true_false"])
        for mode, text in (("raw", row["response"] or ""), ("extraction", str(row["extraction"] or ""))):
            if mode == "raw":
                score = bench.score(text, sample)
            else:  # the official extraction is the answer: vrl's normalisation and comparison only
                ok = bool(text.strip()) and bench.is_correct(text.strip(), sample)
                score = ItemScore(text.strip() or None, ok, float(ok))
            key = "agree" if score.correct == official else _mathvista_why(row, score, official, mode)
            out[mode][key] += 1
            per_model[row["model"]][f"{mode}:{key == 'agree'}"] += 1
            if key != "agree" and len(out["examples"][f"{mode}:{key}"]) < 5:
                out["examples"][f"{mode}:{key}"].append(
                    {
                        "model": row["model"],
                        "pid": row["pid"],
                        "answer": row["answer"],
                        "extracted": score.extracted,
                    }
                    | {"official_extraction": row["extraction"], "response_tail": text[-160:]}
                )
    out["per_model"] = {
        m: {
            mode: _pct(c[f"{mode}:True"], c[f"{mode}:True"] + c[f"{mode}:False"])
            for mode in ("raw", "extraction")
        }
        for m, c in sorted(per_model.items())
    }
    return out


def _mathvista_why(row: dict, score, official: bool, mode: str) -> str:
    """Why vrl's verdict differs from the released `true_false` (rules, not judgement)."""
    mc = row["question_type"] == "multi_choice"
    response = (row["response"] or "").strip()
    if mode == "raw" and not response:
        return "response_missing_in_release"
    if official and mc and _mathvista_route(row) == "snap":
        return "official_snaps_to_nearest_option"
    if official and score.extracted is None:
        return "vrl_no_answer_marker"
    if official and mode == "raw" and score.extracted == response.rstrip(".").strip():
        return "vrl_short_reply_in_prose"
    if re.search(r"\n\s*Question:", response) or response.count("Solution:") > 1:
        # the model goes on with questions of its own: vrl reads its last marked answer, GPT-4 another
        return "response_continues_with_invented_questions"
    if official:
        return "official_right_vrl_wrong"
    if row["answer_type"] == "integer" and row["prediction"] is None and score.correct:
        return "release_labels_predate_int_float_rule"
    return "vrl_right_official_wrong"


def _answer_of(text: str) -> str:
    """vrl's reading of a Math-Verify string: its marked final answer, else the whole string."""
    found = extract_final_answer(text)
    return found if found is not None else text.strip()


def math_verify_agreement(rows: list[dict]) -> dict:
    out = {"items": 0, "agree": 0, "by_test": defaultdict(Counter), "disagree": []}
    for row in rows:
        verdict = is_equivalent(_answer_of(row["pred"]), _answer_of(row["gold"]), "expression")
        out["items"] += 1
        agree = verdict == row["expected"]
        out["agree"] += agree
        out["by_test"][row["test"]][agree] += 1
        if not agree:
            out["disagree"].append(
                {"test": row["test"], "gold": row["gold"][:120], "pred": row["pred"][-160:]}
                | {"expected": row["expected"], "vrl": verdict, "params": row["params"]}
                | {"category": _math_verify_why(row)}
            )
    out["categories"] = Counter(d["category"] for d in out["disagree"])
    return out


def _math_verify_why(row: dict) -> str:
    """Why vrl's verdict differs from Math-Verify's expected one (rules, in this order)."""
    options = {k: v for k, v in row["params"].items() if k in ("strict", "allow_set_relation_comp")}
    if row["params"].get("precision", 6) < 5 or options:
        return "non_default_math_verify_option"
    if any(text.count("\\boxed") > 1 for text in (row["gold"], row["pred"])):
        return "several_boxed_answers_vrl_reads_the_last"
    marked = extract_final_answer(row["pred"])
    if marked is None and is_word_answer(row["pred"]):
        return "prediction_is_prose_without_answer_marker"
    if marked is not None and is_word_answer(marked):
        return "marked_answer_is_a_sentence"
    if re.search(r"\d,\d{1,2}(?!\d)", row["gold"] + " " + row["pred"]):
        return "decimal_comma"
    if "\\boxed" in row["pred"] and re.search(r"final answer", row["pred"], re.IGNORECASE):
        return "boxed_intermediate_wins_over_later_final_answer_line"
    return "other"


def mmmu_val_agreement(rows: list[dict]) -> dict:
    out = {"items": 0, "agree": 0, "letters_compared": 0, "letters_agree": 0, "categories": Counter()}
    out["examples"] = defaultdict(list)
    for row in rows:
        mc = row["question_type"] == "multiple-choice"
        sample = Sample(
            id=row["id"],
            images=[],
            prompt=[],
            answer=str(row["answer"]),
            answer_type="choice" if mc else "text",
            choices=list(row["index2ans"].values()) if mc else [],
            metadata={"question_type": row["question_type"]},
        )
        score = MMMU(path="-").score(row["response"], sample)
        out["items"] += 1
        agree = score.correct == row["official_correct"]
        out["agree"] += agree
        if mc and not row["official_random"]:
            out["letters_compared"] += 1
            out["letters_agree"] += score.extracted == row["official_pred"]
        if not agree:
            why = _mmmu_pro_why(row, score) if mc else "open_answer"
            out["categories"][why] += 1
            if len(out["examples"][why]) < 5:
                out["examples"][why].append(
                    {
                        "id": row["id"],
                        "model": row["model"],
                        "vrl": score.extracted,
                        "official": row["official_pred"],
                    }
                    | {"answer": row["answer"], "response": row["response"][-160:]}
                )
    return out


def mmmu_pro_agreement(rows: list[dict]) -> dict:
    out = {"items": 0, "agree": 0, "by_file": defaultdict(Counter), "categories": Counter()}
    out["examples"] = defaultdict(list)
    for row in rows:
        index2ans = _index2ans(row["options"])
        sample = Sample(
            id=row["id"],
            images=[],
            prompt=[],
            answer=row["answer"],
            answer_type="choice",
            choices=list(index2ans.values()),
            metadata={"question_type": "multiple-choice"},
        )
        score = MMMU(path="-", variant="pro_standard", split="test").score(row["response"], sample)
        out["items"] += 1
        agree = score.correct == row["if_right"]
        out["agree"] += agree
        out["by_file"][row["file"]][agree] += 1
        if not agree:
            why = _mmmu_pro_why(row, score)
            out["categories"][why] += 1
            if len(out["examples"][why]) < 5:
                out["examples"][why].append(
                    {
                        "id": row["id"],
                        "file": row["file"],
                        "vrl": score.extracted,
                        "official": row["pred_indexs"],
                    }
                    | {"answer": row["answer"], "response": row["response"][-200:]}
                )
    return out


def _mmmu_pro_why(row: dict, score) -> str:
    if row["official_random"]:
        return "official_random_guess"
    if score.details.get("hedge"):
        return "vrl_hedge_is_wrong"
    if score.extracted is None:
        return "vrl_no_option_found"
    return "different_option_vrl_right" if score.correct else "different_option_official_right"


def parity(rows: list[dict]) -> dict:
    """vrl's MMMU parsers against the official ones on the same responses."""
    out = {"open_items": 0, "open_agree": 0, "mc_items": 0, "mc_agree": 0, "examples": []}
    for row in rows:
        text = row["response"] or ""
        mine = sorted(parse_open_response(text), key=repr)
        official = [tuple(x) if isinstance(x, list) else x for x in row["official_open"]]
        out["open_items"] += 1
        same = mine == official
        out["open_agree"] += same
        if not same and len(out["examples"]) < 10:
            out["examples"].append({"text": text[-200:], "vrl": mine, "official": official})
        if row["official_mc"] is not None:
            index2ans = row.get("index2ans") or _index2ans(row.get("options") or row.get("choices"))
            out["mc_items"] += 1
            out["mc_agree"] += parse_multi_choice_response(text, index2ans) == row["official_mc"]
    return out


def run(data: Path) -> dict:
    """Every agreement figure for the records under `data` (missing files are skipped)."""
    results = {}
    if rows := _read(data, "mathvista.jsonl"):
        results["mathvista"] = mathvista_agreement(rows)
    if rows := _read(data, "math_verify.jsonl"):
        results["math_verify"] = math_verify_agreement(rows)
    if rows := _read(data, "mmmu_val.jsonl"):
        results["mmmu_val"] = mmmu_val_agreement(rows)
    if rows := _read(data, "mmmu_pro.jsonl"):
        results["mmmu_pro"] = mmmu_pro_agreement(rows)
    rows = [r for name in ("mathvista", "mmmu_val", "mmmu_pro") for r in _read(data, f"{name}.jsonl")]
    if rows := [r for r in rows if "official_open" in r]:
        results["mmmu_parity"] = parity(rows)
    return results


def summary(results: dict) -> dict[str, float]:
    """The headline agreement percentages."""
    out = {}
    if mv := results.get("mathvista"):
        for mode in ("raw", "extraction"):
            out[f"mathvista/{mode}"] = _pct(mv[mode]["agree"], mv["items"])
    if m := results.get("math_verify"):
        out["math_verify"] = _pct(m["agree"], m["items"])
    if m := results.get("mmmu_val"):
        out["mmmu_val"] = _pct(m["agree"], m["items"])
        out["mmmu_val/letters"] = _pct(m["letters_agree"], m["letters_compared"])
    if m := results.get("mmmu_pro"):
        out["mmmu_pro"] = _pct(m["agree"], m["items"])
    if m := results.get("mmmu_parity"):
        out["mmmu_parity/open"] = _pct(m["open_agree"], m["open_items"])
        out["mmmu_parity/multi_choice"] = _pct(m["mc_agree"], m["mc_items"])
    return out


def report(results: dict) -> None:
    print("| comparison | items | agreement % |\n|---|---:|---:|")
    counts = {
        "mathvista/raw": results.get("mathvista", {}).get("items"),
        "mathvista/extraction": results.get("mathvista", {}).get("items"),
        "math_verify": results.get("math_verify", {}).get("items"),
        "mmmu_val": results.get("mmmu_val", {}).get("items"),
        "mmmu_val/letters": results.get("mmmu_val", {}).get("letters_compared"),
        "mmmu_pro": results.get("mmmu_pro", {}).get("items"),
        "mmmu_parity/open": results.get("mmmu_parity", {}).get("open_items"),
        "mmmu_parity/multi_choice": results.get("mmmu_parity", {}).get("mc_items"),
    }
    for key, value in summary(results).items():
        print(f"| {key} | {counts[key]} | {value:.2f} |")
    if mv := results.get("mathvista"):
        for mode in ("raw", "extraction"):
            print(f"\nMathVista ({mode}) disagreements:", dict(mv[mode] - Counter(agree=mv[mode]["agree"])))
        print("\n| model | raw % | extraction % |\n|---|---:|---:|")
        for model, v in mv["per_model"].items():
            print(f"| {model} | {v['raw']:.1f} | {v['extraction']:.1f} |")
    if m := results.get("math_verify"):
        print("\nMath-Verify disagreements:", dict(m["categories"]))
        for test, c in sorted(m["by_test"].items()):
            print(f"  {test}: {c[True]}/{c[True] + c[False]}")
    for key in ("mmmu_val", "mmmu_pro"):
        if m := results.get(key):
            print(f"\n{key} disagreements:", dict(m["categories"]))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="fetched repositories -> normalised JSONL records")
    ex.add_argument("--out", type=Path, required=True)
    ex.add_argument("--every", type=int, default=5, help="keep 1 in N (MathVista pids, MMMU-Pro lines)")
    ex.add_argument(
        "--mirror", type=Path, default=MIRROR, help="folder of fetched <owner>+<name>/repo git dirs"
    )
    rn = sub.add_parser("run", help="score the records with vrl, print the agreement tables")
    rn.add_argument("--data", type=Path, required=True)
    rn.add_argument("--json", type=Path, help="also write every figure and disagreement here")
    args = parser.parse_args(argv)
    if args.command == "extract":
        extract(args.out, args.every, args.mirror)
        return {}
    results = run(args.data)
    report(results)
    if args.json:
        args.json.write_text(
            json.dumps({"summary": summary(results), **results}, indent=1, default=str) + "\n"
        )
    return results


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
