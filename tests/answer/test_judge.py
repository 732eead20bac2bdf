"""Judges: an OpenAI-compatible endpoint (a real HTTP server on 127.0.0.1), an in-process
engine, verdict parsing, and the rule fallback labelling in the benchmarks that use judges."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vrl.answer.judge import JudgeRequest, ModelJudge, OpenAIJudge, RuleJudge, parse_verdict
from vrl.benchmark import MathVerse, VTBench

F = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"


class _Handler(BaseHTTPRequestHandler):
    """A chat-completions endpoint: answers '1' when the model answer contains the gold's
    text, records every request, and fails on demand."""

    requests: list[dict] = []
    mode = "ok"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if type(self).mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        content = body["messages"][0]["content"]
        text = content if isinstance(content, str) else content[0]["text"]
        reply = "Judgement: 1" if type(self).mode == "yes" else ("1" if "[Model_answer]: B" in text else "0")
        if type(self).mode == "garbage":
            reply = "I am not sure"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    _Handler.requests, _Handler.mode = [], "ok"
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_parse_verdict():
    assert parse_verdict("1") is True and parse_verdict(" 0\n") is False
    assert parse_verdict("The Judgement: 1") is True
    assert parse_verdict("maybe") is None and parse_verdict(None) is None


def test_openai_judge_over_http(server, monkeypatch):
    monkeypatch.setenv("VRL_TEST_KEY", "secret")
    judge = OpenAIJudge(base_url=server, model="judge-model", api_key_env="VRL_TEST_KEY", timeout_s=5)
    verdicts = judge.judge_many([JudgeRequest("q", "B", "B"), JudgeRequest("q", "B", "A")])
    assert verdicts == [True, False]
    sent = _Handler.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer secret"
    assert sent["body"]["model"] == "judge-model" and sent["body"]["temperature"] == 0.0
    assert judge.name == "openai:judge-model"


def test_openai_judge_failures_are_none(server):
    judge = OpenAIJudge(base_url=server, model="m", timeout_s=5)
    _Handler.mode = "error"
    assert judge.judge_many([JudgeRequest("q", "B", "B")]) == [None]
    _Handler.mode = "garbage"
    assert judge.judge_many([JudgeRequest("q", "B", "B")]) == [None]
    dead = OpenAIJudge(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=1)  # nothing listens on port 9
    assert dead.judge_many([JudgeRequest("q", "B", "B")]) == [None]


def test_mathverse_with_judge_and_fallback(server):
    bench = MathVerse(path=str(F / "mathverse"), judge=OpenAIJudge(base_url=server, model="m", timeout_s=5))
    s = {x.id: x for x in bench.load()}
    first, second = s["mathverse/1"], s["mathverse/3"]
    scores = bench.score_many(
        ["\\boxed{B}", "\\boxed{0.5}", "no answer at all in this long reply"], [first, second, second]
    )
    assert [x.judge for x in scores] == ["openai:m", "openai:m", "rule"]
    assert [x.correct for x in scores] == [True, False, False]  # the judge overrules the rule on item 2
    assert scores[1].details == {"rule_correct": True}
    assert len(_Handler.requests) == 2  # nothing answerable -> no judge call
    _Handler.mode = "error"
    fallback = bench.score("\\boxed{B}", first)
    assert (fallback.judge, fallback.correct) == ("rule_fallback", True)
    m = bench.metrics([(first, scores[0]), (first, fallback)])
    assert m["judge/model_fraction"] == 50.0 and m["judge/fallback_fraction"] == 50.0


class _Engine:
    """Stands in for a rollout engine: `generate(prompts) -> texts` (and images for vision)."""

    def __init__(self, reply: str):
        self.reply, self.calls = reply, []

    def generate(self, prompts, images=None):
        self.calls.append((len(prompts), images is not None))
        return [self.reply for _ in prompts]


def test_model_judge_batches_and_sees_images():
    engine = _Engine("1")
    bench = VTBench(path=str(F / "vtbench"), task="perception", judge=ModelJudge(engine))
    s = list(bench.load())
    scores = bench.score_many(["", ""], s, generated_images=[s[0].images[0], None])
    assert [x.judge for x in scores] == ["model", "rule"] and [x.correct for x in scores] == [True, False]
    assert engine.calls == [(1, True)]  # one batched call, images passed


def test_model_judge_text_only_engine_falls_back_for_images():
    class TextOnly:
        def generate(self, prompts):
            return ["1" for _ in prompts]

    bench = VTBench(path=str(F / "vtbench"), task="perception", judge=ModelJudge(TextOnly()))
    s = list(bench.load())[0]
    score = bench.score("", s, generated_image=s.images[0])  # unchanged image: rule says wrong
    assert (score.judge, score.correct) == ("rule_fallback", False)


def test_model_judge_engine_crash_is_fallback():
    class Broken:
        def generate(self, prompts):
            raise RuntimeError("CUDA out of memory")

    bench = VTBench(path=str(F / "vtbench"), task="reasoning", judge=ModelJudge(Broken()))
    s = list(bench.load())[0]
    score = bench.score("<answer>B</answer>", s)
    assert (score.judge, score.correct) == ("rule_fallback", True)


def test_rule_judge_is_the_rule_path():
    assert RuleJudge().judge_many([JudgeRequest("q", "0.5", "1/2"), JudgeRequest("q", "B", None)]) == [
        True,
        False,
    ]
    bench = MathVerse(path=str(F / "mathverse"), judge=RuleJudge())
    s = next(iter(bench.load()))
    assert bench.score("\\boxed{B}", s).judge == "rule"
