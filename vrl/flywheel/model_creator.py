"""`ModelCreator`: a chat model is the problem-setter (V-Thinker's creator), prompts from config.

Each combination becomes one prompt listing its knowledge points and tools; the reply must be
a JSON object (fenced or not) with question, answer, answer_type, choices, image_code (a
program that saves an image and prints a JSON line of facts including "answer"), trajectory
[{text, code}], new_knowledge_points [{description, domain}] and new_tools [{name,
description, code}]. Replies that do not parse are counted as `unparseable` rejects.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vrl.data.schema import ANSWER_TYPES

from .parsing import parse_json_object, strip_code_fence
from .procedural import short_hash
from .protocol import Candidate, Combination, KnowledgePoint, Step, Tool

log = logging.getLogger("vrl")


class ModelCreator:
    """Items written by a chat model.

    Args:
        chat: an `OpenAIChat` (any OpenAI-compatible endpoint) or `EngineChat` (a vrl model via hf/vllm).
        prompt: str.format template with {knowledge_points} and {tools} (one bullet per entry).
        items_per_combination: prompts (hence candidates) per sampled combination.
    """

    name = "model"

    def __init__(self, chat: Any, prompt: str, items_per_combination: int = 1) -> None:
        self.chat, self.prompt, self.items_per_combination = chat, prompt, items_per_combination

    def create(
        self, combos: list[Combination], seed: int, round_index: int, work_dir: Path
    ) -> tuple[list[Candidate], int]:
        prompts, keys = [], []
        for c, combo in enumerate(combos):
            text = self.prompt.format(
                knowledge_points="\n".join(f"- [{k.domain}] {k.description}" for k in combo.knowledge_points),
                tools="\n".join(f"- {t.name}: {t.description}" for t in combo.tools),
            )
            for j in range(self.items_per_combination):
                prompts.append(text)
                keys.append((c, j, combo))
        if hasattr(self.chat, "setup"):
            self.chat.setup(work_dir, prompts)
        replies = self.chat.complete(prompts) if prompts else []
        out, failed = [], 0
        for (c, j, combo), reply in zip(keys, replies):
            item = parse_item(reply, f"r{round_index}/c{c}/i{j}", round_index, combo)
            if item is None:
                failed += 1
            else:
                out.append(item)
        log.info("flywheel model creator: %d replies, %d parsed", len(replies), len(out))
        return out, failed


def parse_item(text: str, item_id: str, round_index: int, combo: Combination) -> Candidate | None:
    """A candidate from a model reply, or None if it lacks a question, an answer or image code."""
    data = parse_json_object(text)
    if not data:
        return None
    question, answer, code = (str(data.get(k) or "").strip() for k in ("question", "answer", "image_code"))
    if not question or not answer or not code:
        return None
    answer_type = str(data.get("answer_type") or "text").strip().lower()
    if answer_type not in ANSWER_TYPES:
        answer_type = "text"
    choices = data.get("choices") or []
    steps = []
    for raw in data.get("trajectory") or []:
        if isinstance(raw, dict) and str(raw.get("code") or "").strip():
            steps.append(Step(text=str(raw.get("text") or ""), code=strip_code_fence(str(raw["code"]))))
    domain = combo.knowledge_points[0].domain if combo.knowledge_points else "general"
    kps = []
    for raw in data.get("new_knowledge_points") or []:
        description = (
            str(raw.get("description") or raw.get("name") or "") if isinstance(raw, dict) else str(raw)
        )
        if description.strip():
            kps.append(
                KnowledgePoint(
                    id=f"kp/r{round_index}/{short_hash(description)}",
                    description=description.strip(),
                    domain=str(raw.get("domain") or domain) if isinstance(raw, dict) else domain,
                    parents=[k.id for k in combo.knowledge_points],
                    level=1 + max((k.level for k in combo.knowledge_points), default=0),
                    round=round_index,
                )
            )
    tools = []
    for raw in data.get("new_tools") or []:
        if isinstance(raw, dict) and raw.get("name") and raw.get("code"):
            tools.append(
                Tool(
                    id=f"tool/r{round_index}/{short_hash(str(raw['name']))}",
                    name=str(raw["name"]),
                    description=str(raw.get("description") or raw["name"]),
                    domain=str(raw.get("domain") or "model"),
                    code=strip_code_fence(str(raw["code"])),
                    parents=[t.id for t in combo.tools],
                    level=1,
                    round=round_index,
                )
            )
    return Candidate(
        id=item_id,
        question=question,
        answer=answer,
        answer_type=answer_type,
        image_code=strip_code_fence(code),
        domain=domain,
        creator="model",
        round=round_index,
        choices=[str(c) for c in choices] if isinstance(choices, list) else [],
        trajectory=steps,
        knowledge_points=[k.id for k in combo.knowledge_points],
        tools=[t.id for t in combo.tools],
        proposed_knowledge_points=kps,
        proposed_tools=tools,
        difficulty=int(data["difficulty"]) if str(data.get("difficulty", "")).isdigit() else 1,
    )
