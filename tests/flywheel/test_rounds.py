"""Two real rounds on CPU: growth, provenance, de-duplication, re-rendering, resume."""

from __future__ import annotations

import io
import json
import shutil

from PIL import Image, ImageChops

from vrl.flywheel import round_dirs
from vrl.flywheel.dataset import read_items
from vrl.flywheel.pools import BUILTIN, read_pool

CHECKS = {"renders", "valid_image", "answer_verified"}


def test_pools_and_items_grow_over_two_rounds(two_rounds):
    work, stats = two_rounds
    seeds = len(BUILTIN["knowledge_points"].read_text().splitlines())
    assert [s["round"] for s in stats] == [0, 1]
    assert seeds < stats[0]["knowledge_points"] < stats[1]["knowledge_points"]
    assert stats[1]["accepted"] > stats[0]["accepted"] > 0
    assert all(s["candidates"] >= s["accepted"] - s["extended"] for s in stats)
    # The seeds are written to the run dir as data files.
    assert (work / "seeds" / "knowledge_points.jsonl").read_text().count("\n") == seeds


def test_every_item_has_provenance(two_rounds):
    work, _ = two_rounds
    items = read_items(round_dirs(work))
    ids = {item["id"] for item in items}
    kps = {
        k.id for d in round_dirs(work) for k in read_pool(d / "knowledge_points.jsonl", "knowledge_points")
    }
    for item in items:
        prov = item["provenance"]
        assert prov["creator"] == "procedural" and prov["round"] in (0, 1)
        assert CHECKS <= set(prov["checks"]), item["id"]
        assert set(prov["knowledge_points"]) <= kps
        if prov["extension"]:
            # An extension names the accepted item it extends, from the same round.
            assert prov["parents"] and all(f"flywheel/{p}" in ids for p in prov["parents"])
        if item["trajectory"]:
            assert "steps_coherent" in prov["checks"]
    assert any(i["provenance"]["extension"] == "sequential" for i in items)
    assert any(i["provenance"]["extension"] == "parallel" for i in items)


def test_repaired_items_carry_the_answer_the_scene_supports(two_rounds):
    work, stats = two_rounds
    repaired = [i for i in read_items(round_dirs(work)) if i["provenance"]["repaired"]]
    assert len(repaired) == sum(s["repaired"] for s in stats)
    for item in repaired:
        # Repairs so far are counts whose planned objects did not all fit: re-count the facts.
        if item["provenance"]["spec"] == "count":
            shape_word = item["question"].split()[-3]
            n = sum(o["shape"] + "s" == shape_word for o in item["facts"]["objects"])
            assert item["answer"] == str(n)


def test_no_duplicate_items_or_pool_entries(two_rounds):
    work, stats = two_rounds
    items = read_items(round_dirs(work))
    assert len({i["key"] for i in items}) == len(items)
    assert len({i["id"] for i in items}) == len(items)
    last = round_dirs(work)[-1]
    for kind in ("knowledge_points", "tools"):
        pool = read_pool(last / f"{kind}.jsonl", kind)
        assert len({e.id for e in pool}) == len(pool)
        assert len({e.description for e in pool}) == len(pool)
    assert sum(s["proposals_deduplicated"] for s in stats) > 0  # repeated widenings were dropped


def test_every_accepted_items_code_renders_its_stored_image(two_rounds, sandbox):
    work, _ = two_rounds
    items = read_items(round_dirs(work))
    assert items
    for item in items:
        result = sandbox.execute(item["code"], [])
        assert result.ok and result.images, (item["id"], result.error)
        fresh = Image.open(result.images[0]).convert("RGB")
        stored = Image.open(io.BytesIO(open(item["image"], "rb").read())).convert("RGB")
        assert fresh.size == stored.size
        assert ImageChops.difference(fresh, stored).getbbox() is None, item["id"]


def test_every_trajectory_step_reproduces_its_stored_image(two_rounds, sandbox):
    work, _ = two_rounds
    items = [i for i in read_items(round_dirs(work)) if i["trajectory"]][:40]
    for item in items:
        previous = item["image"]
        for step in item["trajectory"]:
            result = sandbox.execute(step["code"], [previous])
            stored = Image.open(work / "rounds" / f"round_{item['provenance']['round']:03d}" / step["image"])
            assert (
                ImageChops.difference(
                    Image.open(result.images[0]).convert("RGB"), stored.convert("RGB")
                ).getbbox()
                is None
            )
            previous = work / "rounds" / f"round_{item['provenance']['round']:03d}" / step["image"]


def test_resume_continues_at_round_granularity_without_duplicates(two_rounds, sandbox, tmp_path):
    from flywheel_helpers import small_flywheel

    work, _ = two_rounds
    resumed = tmp_path / "resumed"
    (resumed / "rounds").mkdir(parents=True)
    shutil.copytree(work / "seeds", resumed / "seeds")
    shutil.copytree(work / "rounds" / "round_000", resumed / "rounds" / "round_000")
    (resumed / "round_001.tmp-crashed").mkdir()  # a round interrupted half-way
    (resumed / "round_001.tmp-crashed" / "items.jsonl").write_text('{"half": true}\n')
    before = (resumed / "rounds" / "round_000" / "items.jsonl").read_text()
    stats = small_flywheel().run(resumed, sandbox, rounds=2, seed=0)
    assert [s["round"] for s in stats] == [0, 1]
    assert (resumed / "rounds" / "round_000" / "items.jsonl").read_text() == before  # kept, not redone
    assert not list(resumed.glob("round_*.tmp-*"))
    fresh = read_items(round_dirs(work))
    again = read_items(round_dirs(resumed))
    assert [i["key"] for i in again] == [i["key"] for i in fresh]  # the same items, none twice
    # Asking for rounds that are finished runs nothing new.
    assert small_flywheel().run(resumed, sandbox, rounds=2, seed=0) == stats
    assert json.loads((resumed / "rounds" / "round_001" / "stats.json").read_text())["round"] == 1
