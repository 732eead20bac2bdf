"""A ModelJudge backed by a real (tiny) VLM: generation runs, unparseable verdicts fall back to rules."""

from PIL import Image
from vrl_testing import hf_engine

from vrl.answer.judge import JudgeRequest, ModelJudge
from vrl.benchmark.judge_engine import VLMJudgeEngine
from vrl.model import TinyQwen25VL


def test_model_judge_runs_a_real_tiny_vlm(tmp_path):
    engine = VLMJudgeEngine(TinyQwen25VL(), hf_engine(max_new_tokens=4), work_dir=str(tmp_path))
    replies = engine.generate(
        ["Is 2 equal to 2? Answer yes or no."], images=[[Image.new("RGB", (56, 56), "red")]]
    )
    assert len(replies) == 1 and isinstance(replies[0], str)
    calls = []
    generate = engine.generate
    engine.generate = lambda prompts, **kw: calls.append(list(prompts)) or generate(prompts, **kw)
    judge = ModelJudge(engine, name="tiny")
    request = JudgeRequest(question="1+1?", gold="2", extracted="2")
    verdicts = judge.judge_many([request])
    assert len(calls) == 1 and "1+1?" in calls[0][0], "the judge prompt must reach the model"
    assert verdicts[0] in (True, False, None)  # an untrained model's reply is usually unparseable -> None
