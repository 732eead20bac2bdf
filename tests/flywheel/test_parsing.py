"""Reading model replies as items: fences, prose around JSON, braces in strings, and garbage."""

from __future__ import annotations

import json

import pytest

from vrl.flywheel import parse_item
from vrl.flywheel.parsing import parse_json_object, strip_code_fence
from vrl.flywheel.protocol import Combination, KnowledgePoint, Tool

COMBO = Combination(
    [KnowledgePoint("kp/a", "counting things", "counting", level=2)],
    [Tool("tool/t", "t", "a tool", "annotation", "def t(image):\n    return image\n")],
)
ITEM = {"question": "How many?", "answer": 3, "image_code": "print('{\"answer\": 3}')"}


@pytest.mark.parametrize(
    "reply",
    [
        json.dumps(ITEM),
        "```json\n" + json.dumps(ITEM) + "\n```",
        "Sure! Here it is:\n" + json.dumps(ITEM, indent=2) + "\nHope this helps {really}.",
        "```\n" + json.dumps(ITEM) + "\n```",
    ],
)
def test_an_item_is_found_wherever_the_json_sits(reply):
    item = parse_item(reply, "r0/c0/i0", 0, COMBO)
    assert item is not None
    assert (item.question, item.answer, item.answer_type) == ("How many?", "3", "text")
    assert item.creator == "model" and item.knowledge_points == ["kp/a"] and item.domain == "counting"


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "no json here",
        "{broken: json",
        json.dumps({"question": "q", "answer": ""}),
        json.dumps([1, 2]),
        json.dumps({"question": "q", "answer": "a"}),
    ],  # fmt: skip
)
def test_replies_without_a_complete_item_are_none(reply):
    assert parse_item(reply, "x", 0, COMBO) is None


def test_braces_inside_strings_do_not_end_the_object():
    text = 'prefix {"code": "d = {\\"a\\": 1}  # }", "n": 2} suffix'
    assert parse_json_object(text) == {"code": 'd = {"a": 1}  # }', "n": 2}


def test_fields_are_cleaned_and_proposals_read():
    raw = {
        **ITEM,
        "answer_type": "INTEGER",
        "choices": "not a list",
        "image_code": "```python\nprint(1)\n```",
        "trajectory": [{"text": "t", "code": "```py\nx = 1\n```"}, {"text": "no code"}, "junk"],
        "new_knowledge_points": [
            {"description": "counting stars", "domain": "counting"},
            "plain text kp",
            {},
        ],
        "new_tools": [{"name": "zoom", "code": "def zoom(image):\n    return image\n"}, {"name": "no code"}],
        "difficulty": "4",
    }
    item = parse_item(json.dumps(raw), "r1/c0/i0", 1, COMBO)
    assert item.answer_type == "integer" and item.choices == [] and item.image_code == "print(1)\n"
    assert [s.code for s in item.trajectory] == ["x = 1\n"]
    assert [k.description for k in item.proposed_knowledge_points] == ["counting stars", "plain text kp"]
    assert (
        item.proposed_knowledge_points[0].parents == ["kp/a"] and item.proposed_knowledge_points[0].level == 3
    )
    assert [t.name for t in item.proposed_tools] == ["zoom"] and item.difficulty == 4


def test_unknown_answer_type_falls_back_to_text():
    item = parse_item(json.dumps({**ITEM, "answer_type": "vector"}), "x", 0, COMBO)
    assert item.answer_type == "text"


def test_strip_code_fence_leaves_bare_code_alone():
    assert strip_code_fence("x = 1\n") == "x = 1\n"
