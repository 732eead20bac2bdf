"""Prompt texts of the recipes, too long for a YAML line, by name.

A data option picks one with a node the config composes and checks like any other:

    system_prompt: {_target_: vrl.data.prompts.template, name: vthinker_system}

Each text says where it comes from. Recipes whose prompt fits on a line keep it in their YAML
(`conf/data/virl39k.yaml`: VL-Rethinker's instruction); DeepEyes' prompt is in its dataset.
"""

from __future__ import annotations

from vrl.errors import ConfigError

# V-Thinker's system prompt for interactive reasoning: We-Math/V-Thinker @ 77a5ab8,
# data/prompt.txt (the SFT script passes it with --system; eval/vtbench_IR/utils.py uses the same
# text as SYSTEM_PROMPT).
VTHINKER_SYSTEM = """You are a helpful assistant.

Solve the following problem step by step, and optionally write Python code to draw auxiliary graphics on the image (such as annotations, auxiliary lines, regions, points, etc.), in order to engage in interactive mathematical reasoning or visual question answering.
The Python code will be executed in an external sandbox, and the processed image or result (wrapped in <sandbox_output></sandbox_output>) will be returned to aid your reasoning and help you arrive at the final answer.

Reasoning & Drawing Auxiliary Graphics (Optional but Encouraged):

- You have the capability to write Python code to add auxiliary graphics (such as segments, circles, rectangles, labels, etc.) to the image, to help illustrate your reasoning process.
- The code will be executed in a secure sandbox, and its output will be provided back to you for further analysis.
- All Python code snippets must be wrapped as follows:
  <code>
  ```python
  # your code.
  ```
  </code>
- At the end of the code, print the path of the processed image (processed_path) or the relevant result for further processing within the sandbox environment."""

# V-Thinker's user turn: eval/vtbench_IR/utils.py `generate_prompt_final_qa` (the release's
# only prompt builder for interactive reasoning; the RL jsonl prompts are not released). The
# release's stray quote characters and indentation are dropped; `image_path` names the file the
# code tool's image_path rewrite maps to the real input, as the release's sandbox does.
VTHINKER_USER = """<image>
{question}

If your code processes the image, use: image_path = 'image.png'.
### **Output Format (strict adherence required):**

<think>Your detailed reasoning process, including any code, should go here.</think>
<answer>Your final answer to the user's question goes here.</answer>"""

# VL-Rethinker's rethinking guideline: TIGER-AI-Lab/VL-Rethinker @ dd2c17d,
# openrlhf/datasets/prompts_dataset.py templates["rethink"] (`--system_prompt rethink`; the
# released training script's default is `default`, the one-line instruction in virl39k.yaml).
VLRETHINKER_RETHINK = (
    "Guidelines: \nPlease think step by step, and **regularly perform self-questioning, "
    "self-verification, self-correction to check your ongoing reasoning**, using connectives such as "
    '"Wait a moment", "Wait, does it seem right?", etc. Remember to put your final answer within \\boxed{}.'
)

TEMPLATES = {
    "vthinker_system": VTHINKER_SYSTEM,
    "vthinker_user": VTHINKER_USER,
    "vlrethinker_rethink": "{question}\n\n" + VLRETHINKER_RETHINK,
}


def template(name: str) -> str:
    """The prompt text called `name` (one of `TEMPLATES`)."""
    if name not in TEMPLATES:
        raise ConfigError(f"prompt template {name!r} is unknown; use one of {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[name]
