"""The `model` strategy end to end against a local OpenAI-compatible stub, and the tiny model through the hf engine."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hydra.utils import instantiate
from vrl_testing import compose

from vrl.flywheel import round_dirs
from vrl.flywheel.dataset import read_items

GOOD_CODE = (
    "import json\nfrom PIL import Image, ImageDraw\nim = Image.new('RGB', (64, 64), 'white')\n"
    "d = ImageDraw.Draw(im)\nfor i in range(3):\n    d.ellipse((4 + 20 * i, 20, 16 + 20 * i, 32), fill='red')\n"
    "im.save('image.png')\nprocessed_path = 'image.png'\nprint(json.dumps({'answer': 3}))\n"
)
STEP_CODE = (
    "from PIL import Image, ImageDraw\nim = Image.open(image_path).convert('RGB')\n"
    "ImageDraw.Draw(im).line((0, 26, 64, 26), fill='black')\nim.save('s.png')\nprocessed_path = 's.png'\n"
)


def item(answer: str, question: str = "How many red circles are in the row?") -> dict:
    return {
        "question": question,
        "answer": answer,
        "answer_type": "integer",
        "image_code": GOOD_CODE,
        "trajectory": [{"text": "Draw a line through the row.", "code": f"```python\n{STEP_CODE}```"}],
        "new_knowledge_points": [
            {"description": "counting circles arranged in a row", "domain": "counting"},
            {"description": "Counting circles arranged in a row.", "domain": "counting"},  # a near-duplicate
        ],
        "new_tools": [
            {
                "name": "row_line",
                "description": "line through a row",
                "code": "def row_line(image):\n    return image\n",
            }
        ],
    }


CREATOR_REPLIES = [
    "Here is the problem:\n```json\n" + json.dumps(item("3")) + "\n```\nGood luck!",
    "I cannot do that { not json",
    "Sure. " + json.dumps(item("4", "Count the red circles.")) + " (the answer is wrong on purpose)",
]


class Stub(BaseHTTPRequestHandler):
    calls: list[str] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        Stub.calls.append(prompt)
        if "Does the answer follow" in prompt:
            facts = json.loads(prompt.split("reported these facts: ")[1].split("\n")[0])
            proposed = prompt.split("Proposed answer: ")[1].split("\n")[0]
            reply = "Yes." if str(facts.get("answer")) == proposed else "No, it does not."
        elif "its text is not" in prompt:
            question = prompt.split("Question: ")[1].split("\n")[0]  # keep the question, fix the answer
            reply = json.dumps({"question": question, "answer": "3"})
        else:
            creator_calls = [c for c in Stub.calls if "verifiable visual math problem" in c]
            reply = CREATOR_REPLIES[(len(creator_calls) - 1) % len(CREATOR_REPLIES)]
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.calls = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_model_strategy_from_config_creates_checks_repairs_and_merges(endpoint, sandbox, tmp_path):
    cfg = compose(
        [
            "flywheel=model",
            f"flywheel.creator.chat.base_url={endpoint}",
            "flywheel.creator.chat.retries=0",
            "flywheel.combinations_per_round=3",
            "flywheel.knowledge_points_per_combination=1",
            "flywheel.extender=null",
            "flywheel.dedup.encoder.model_name=null",
        ]
    )
    flywheel = instantiate(cfg.flywheel, _convert_="all")
    (stats,) = flywheel.run(tmp_path, sandbox, rounds=1, seed=0)
    assert stats["candidates"] == 3
    assert stats["rejected"] == {"unparseable": 1}
    assert stats["accepted"] == 2 and stats["repaired"] == 1  # the wrong answer was rewritten from the facts
    items = read_items(round_dirs(tmp_path))
    assert {i["answer"] for i in items} == {"3"}
    assert [i["provenance"]["repaired"] for i in items] == [False, True]
    assert items[0]["provenance"]["creator"] == "model"
    assert "answer_verified_by_model" in items[0]["provenance"]["checks"]
    assert "steps_coherent" in items[0]["provenance"]["checks"]
    # Proposals of accepted items join the pools; the near-duplicate wording was dropped.
    assert stats["new_knowledge_points"] == 1 and stats["new_tools"] == 1
    assert stats["proposals_deduplicated"] >= 1


def test_a_repaired_item_identical_to_an_accepted_one_is_a_duplicate(endpoint, sandbox, tmp_path):
    from vrl.flywheel import Flywheel, ModelCreator, ModelRepairer, OpenAIChat, RuleChecker

    global CREATOR_REPLIES
    saved = CREATOR_REPLIES
    CREATOR_REPLIES = [saved[0], json.dumps(item("4"))]  # same question and image, wrong answer
    try:
        chat = OpenAIChat(endpoint, "stub", retries=0)
        flywheel = Flywheel(
            ModelCreator(chat, "write a verifiable visual math problem: {knowledge_points} {tools}"),
            RuleChecker(),
            ModelRepairer(
                chat, "its text is not right. {facts}\nQuestion: {question}\nWrong answer: {answer}"
            ),
            combinations_per_round=2,
            knowledge_points_per_combination=1,
        )
        (stats,) = flywheel.run(tmp_path, sandbox, rounds=1, seed=0)
    finally:
        CREATOR_REPLIES = saved
    assert stats["accepted"] == 1 and stats["rejected"] == {"duplicate": 1}


def test_tiny_model_through_the_hf_engine_writes_replies_that_the_checker_rejects(sandbox, tmp_path):
    """Honest: a random 1M-param model cannot write an item; its replies are read and counted as unparseable."""
    from vrl.flywheel import EngineChat, Flywheel, ModelCreator, RuleChecker
    from vrl.model import TinyQwen25VL
    from vrl.rollout import HFRolloutEngine

    chat = EngineChat(TinyQwen25VL(), HFRolloutEngine(batch_size=4), temperature=1.0, max_new_tokens=24)
    creator = ModelCreator(chat, "Write one problem as JSON for: {knowledge_points}. Tools: {tools}")
    flywheel = Flywheel(creator, RuleChecker(), combinations_per_round=3, knowledge_points_per_combination=1)
    (stats,) = flywheel.run(tmp_path, sandbox, rounds=1, seed=0)
    assert stats["candidates"] == 3
    assert stats["accepted"] == 0 and sum(stats["rejected"].values()) == 3
    assert (tmp_path / "creator_model").is_dir()  # the tiny model was really built and sampled
