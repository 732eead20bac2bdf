"""The judge prompts of the recipes' rewards (paraphrases that keep each original's inputs and its
reply format, so `vrl.answer.judge.parse_verdict` reads the verdict the same way).

- V-Thinker (We-Math/V-Thinker @ 77a5ab8, scripts/plugin/agent_rm.py): `vqa_orm_template`
  (accuracy: question, generated answer, reference -> {"Correctness": 0|1}) and
  `consistency_template` (the reasoning's last 500 characters and the final answer ->
  {"Consistency": 0|1}); judge: Qwen2.5-VL-72B-Instruct-AWQ behind an OpenAI-compatible server.
- DeepEyes (Visual-Agent/DeepEyes @ 6c5e796, verl/utils/reward_score/vl_agent.py): the
  few-shot "Judgement: 0|1" prompt of `compute_score` (seven worked examples), and
  `MATH_VERIFY_PROMPT` ("## Equivalence Judgement" TRUE|FALSE) for the math rows; judge:
  Qwen2.5-72B-Instruct served by vLLM.
"""

from __future__ import annotations

VTHINKER_ACCURACY = """You are an expert in question answering. You are given a question, a generated answer to it and the reference answer. Rate the Correctness of the generated answer: 1 if it is consistent with the reference answer, else 0.

#### Question:
{question}

#### Generated Answer:
{extracted}

#### Reference Answer:
{gold}

### Output Format (strictly follow)
Give an integer score for Correctness, as a JSON dictionary and nothing else: {{"Correctness": score}}.

Your Evaluation Result:
"""

VTHINKER_CONSISTENCY = """You are an expert in question answering. You are given a solution process and a final answer to the same question. Rate the Consistency between them: 1 if the solution process reaches the same conclusion as the final answer, else 0.

#### Solution Process:
{solution}

#### Final Answer:
{extracted}

### Output Format (strictly follow)
Give an integer score for Consistency, as a JSON dictionary and nothing else: {{"Consistency": score}}.

Your Evaluation Result:
"""

_DEEPEYES_EXAMPLES = [
    ("Is the countertop tan or blue?", "The countertop is tan.", "tan", 1),
    (
        "On which side of the picture is the barrier?",
        "The barrier is on the left side of the picture.",
        "left",
        1,
    ),
    ("Is the kite brown and large?", "Yes, the kite is brown and large.", "Yes", 1),
    ("Are the spots on a giraffe?", "No, the spots are on a banana.", "no", 1),
    ("Who is wearing pants?", "The boy is wearing pants.", "The person in the picture is wearing pants.", 1),
    ("Is the man phone both blue and closed?", "Yes, the man phone is both blue and closed.", "No.", 0),
    (
        "What color is the towel in the center of the picture?",
        "The towel in the center of the picture is blue.",
        "The towel in the center of the picture is pink.",
        0,
    ),
]

DEEPEYES_ACCURACY = (
    "Below are two answers to a question. [Question] is the question, [Standard Answer] is its standard answer, "
    "and [Model_answer] is the answer extracted from a model's output. Decide whether the two answers are "
    "consistent. [Model_answer] is consistent with [Standard Answer] whenever they say essentially the same "
    "thing, however it is worded (for example 'pink' and 'it is pink'). If they are consistent the Judgement "
    "is 1; if they differ it is 0. Output only the Judgement.\n\n"
    + "".join(
        f"[Question]: {q}\n[Standard Answer]: {g}\n[Model_answer] : {a}\nJudgement: {j}\n\n"
        for q, g, a, j in _DEEPEYES_EXAMPLES
    )
    .replace("{", "{{")
    .replace("}", "}}")
    + "[Question]: {question}\n[Standard Answer]: {gold}\n[Model_answer] : {extracted}\nJudgement:"
)

DEEPEYES_MATH = """# CONTEXT #
I am a teacher with some hard math problems. I must decide whether a student's answer is correct, given the problem and a reference answer. The student's answer may use different wording or notation and still mean the same.

# OBJECTIVE #
Judge whether the student's answer is correct given the reference answer. Pay special attention to LaTeX: check that the mathematical relations, variables and operations are equivalent.

# RESPONSE: MARKDOWN REPORT #
## Equivalence Judgement
[TRUE if the student's answer means the same as the reference answer, else FALSE]

# ATTENTION #
 - The reference answer is ALWAYS correct.
 - Answer only TRUE or FALSE: an answer with even a minor mistake is FALSE.
 - Give no explanation.

**Question**:
{question}

**Reference Answer**
{gold}

## Student Final Answer
{extracted}"""
