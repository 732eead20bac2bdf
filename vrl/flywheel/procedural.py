"""`ProceduralCreator` and `ProceduralExtender`: the offline, program-synthesis creator (CPU only).

For each combination it picks a renderable knowledge point, plans a scene from the point's
template, composes the rendering program from `primitives`, writes a solution trajectory
whose steps call tools from the combination, and proposes new knowledge points (one knob of a
template widened, or two domains composed) and new tools (two tools chained).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from . import primitives
from .protocol import Candidate, Combination, KnowledgePoint, Step, Tool
from .templates import TEMPLATES, colors_of, describe

MAX_TOOL_LEVEL = 2  # chains of at most three seed tools


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def step_program(tool: Tool, args: dict) -> str:
    """Editing code for one trajectory step: `tool` applied to the previous image (`image_path`)."""
    return (
        "import json, math\nfrom PIL import Image, ImageDraw\n"
        + tool.code
        + f"\nresult = {tool.name}(Image.open(image_path).convert('RGB'), **{dict(sorted(args.items()))!r})\n"
        'result.save("step.png")\nprocessed_path = "step.png"\nprint(json.dumps({"size": list(result.size)}))\n'
    )


def tool_args(tool: Tool, plan: dict) -> dict:
    """The tool's default arguments, pointed at the plan's target colour where it takes one."""
    args = dict(tool.args)
    target = (plan.get("target") or [None, None])[1] or (colors_of(plan)[0] if "color" in args else None)
    if "color" in args and target:
        args["color"] = target
    return args


def chain_tools(first: Tool, second: Tool, round_index: int) -> Tool:
    """A new tool: `second` applied to the output of `first` (a sequential composition)."""
    name = f"{first.name}_then_{second.name}"
    wrapper = (
        f"\ndef {name}(image, **kw):\n"
        f"    image = {first.name}(image, **{{k: v for k, v in kw.items() if k in {sorted(first.args)!r}}})\n"
        f"    return {second.name}(image, **{{k: v for k, v in kw.items() if k in {sorted(second.args)!r}}})\n"
    )
    return Tool(
        id=f"tool/r{round_index}/{short_hash(name)}",
        name=name,
        description=f"{first.description}; then {second.description}",
        domain=second.domain,
        code=first.code + "\n" + second.code + wrapper,
        args={**first.args, **second.args},
        parents=[first.id, second.id],
        level=max(first.level, second.level) + 1,
        round=round_index,
    )


def build_candidate(
    kp: KnowledgePoint,
    rng: random.Random,
    tools: list[Tool],
    item_id: str,
    round_index: int,
    image_size: int,
    distractors: int = 0,
    creator: str = "procedural",
) -> Candidate:
    """One item for knowledge point `kp`: plan, rendering program, trajectory over `tools`."""
    template = TEMPLATES[kp.template]
    plan = template.plan(kp.params, rng, distractors)
    parts, body = template.body(plan)
    code = primitives.program(rng.randrange(2**31), image_size, colors_of(plan), parts, body)
    steps = [
        Step(text=f"Use {t.name}: {t.description}.", code=step_program(t, tool_args(t, plan)), tool=t.id)
        for t in tools
    ]
    return Candidate(
        id=item_id,
        question=plan["question"],
        answer=plan["answer"],
        answer_type=template.answer_type,
        image_code=code,
        domain=template.domain,
        creator=creator,
        round=round_index,
        choices=list(plan.get("choices", [])),
        trajectory=steps,
        spec={"template": kp.template, "params": kp.params, "plan": json.loads(json.dumps(plan))},
        knowledge_points=[kp.id],
        tools=[t.id for t in tools],
        difficulty=int(plan["difficulty"]) + distractors,
    )


class ProceduralCreator:
    """vrl's own creator: composes rendering code from templates and primitives, no model needed.

    Args:
        items_per_combination: candidates written per sampled combination.
        proposals_per_item: new knowledge points each candidate proposes (merged only if accepted).
        tool_proposal_prob: chance a candidate also proposes a chained tool from its combination.
        steps_per_item: trajectory steps (tool calls) per candidate, at most the combination's tools.
        image_size: rendered image side in pixels (the procedural hold-out uses 56).
    """

    name = "procedural"

    def __init__(
        self,
        items_per_combination: int = 2,
        proposals_per_item: int = 1,
        tool_proposal_prob: float = 0.3,
        steps_per_item: int = 1,
        image_size: int = 56,
    ) -> None:
        self.items_per_combination = items_per_combination
        self.proposals_per_item = proposals_per_item
        self.tool_proposal_prob = tool_proposal_prob
        self.steps_per_item = steps_per_item
        self.image_size = image_size

    def create(
        self, combos: list[Combination], seed: int, round_index: int, work_dir: Path
    ) -> tuple[list[Candidate], int]:
        """Candidates for every combination (deterministic in seed, round and position); 0 unparseable."""
        out = []
        for c, combo in enumerate(combos):
            rng = random.Random(f"{seed}/{round_index}/{c}")
            renderable = [kp for kp in combo.knowledge_points if kp.template in TEMPLATES]
            for j in range(self.items_per_combination if renderable else 0):
                kp = rng.choice(renderable)
                tools = rng.sample(combo.tools, min(self.steps_per_item, len(combo.tools)))
                item = build_candidate(
                    kp, rng, tools, f"r{round_index}/c{c}/i{j}", round_index, self.image_size
                )
                item.proposed_knowledge_points = self._propose_kps(kp, renderable, rng, round_index)
                if len(combo.tools) >= 2 and rng.random() < self.tool_proposal_prob:
                    first, second = rng.sample(combo.tools, 2)
                    if max(first.level, second.level) < MAX_TOOL_LEVEL:
                        item.proposed_tools = [chain_tools(first, second, round_index)]
                out.append(item)
        return out, 0

    def _propose_kps(
        self, kp: KnowledgePoint, others: list[KnowledgePoint], rng: random.Random, round_index: int
    ) -> list[KnowledgePoint]:
        template = TEMPLATES[kp.template]
        proposals = []
        for _ in range(self.proposals_per_item):
            params, parents = template.widen(kp.params, rng), [kp.id]
            # Composition: a same-template partner's knobs are merged in (the union of both skills).
            partner = next((o for o in others if o.id != kp.id and o.template == kp.template), None)
            if params is not None and partner is not None and rng.random() < 0.3:
                params = _merge(params, partner.params)
                parents.append(partner.id)
            if params is None or params == kp.params:
                continue
            text = describe(kp.template, params)
            proposals.append(
                KnowledgePoint(
                    id=f"kp/r{round_index}/{short_hash(text)}",
                    description=text,
                    domain=kp.domain,
                    template=kp.template,
                    params=params,
                    parents=parents,
                    level=kp.level + 1,
                    round=round_index,
                )
            )
        return proposals


def _merge(a: dict, b: dict) -> dict:
    """Union of list knobs (a's order first), larger of numeric knobs, a's value otherwise."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, list) and isinstance(a.get(key), list) and key != "gap":
            out[key] = list(a[key]) + [v for v in value if v not in a[key]]
        elif isinstance(value, int) and isinstance(a.get(key), int) and not isinstance(value, bool):
            out[key] = max(a[key], value)
    return out


class ProceduralExtender:
    """Harder variants of accepted items.

    parallel: the same knowledge point re-planned with more independent constructions
    (distractor objects or auxiliary grid lines); sequential: one more dependent trajectory step
    (a tool applied to the previous step's output), i.e. one more interaction round.

    Args:
        parallel_extra: constructions added by a parallel extension.
        sequential_steps: tool steps appended by a sequential extension.
        image_size: rendered image side in pixels.
    """

    def __init__(self, parallel_extra: int = 1, sequential_steps: int = 1, image_size: int = 56) -> None:
        self.parallel_extra, self.sequential_steps, self.image_size = (
            parallel_extra,
            sequential_steps,
            image_size,
        )

    def extend(self, candidate: Candidate, seed: int, tools: list[Tool]) -> list[Candidate]:
        rng = random.Random(f"{seed}/extend/{candidate.id}")
        variants = []
        template = candidate.spec.get("template")
        if template in TEMPLATES:
            kp = KnowledgePoint(
                id=candidate.knowledge_points[0], description="", domain=candidate.domain,
                template=template, params=candidate.spec["params"],
            )  # fmt: skip
            used = [t for t in tools if t.id in candidate.tools]
            extra = candidate.spec["plan"].get("grid", 0) + self.parallel_extra
            item = build_candidate(
                kp,
                rng,
                used,
                f"{candidate.id}/par",
                candidate.round,
                self.image_size,
                extra,
                candidate.creator,
            )
            item.parents, item.extension = [candidate.id], "parallel"
            variants.append(item)
        if tools:
            added = rng.sample(tools, min(self.sequential_steps, len(tools)))
            plan = candidate.spec.get("plan", {})
            steps = [
                Step(f"Then use {t.name}: {t.description}.", step_program(t, tool_args(t, plan)), t.id)
                for t in added
            ]
            seq = Candidate(**{**candidate.__dict__})
            seq.id, seq.parents, seq.extension = f"{candidate.id}/seq", [candidate.id], "sequential"
            seq.trajectory = list(candidate.trajectory) + steps
            seq.tools = list(candidate.tools) + [t.id for t in added]
            seq.difficulty = candidate.difficulty + len(steps)
            seq.proposed_knowledge_points, seq.proposed_tools = [], []
            variants.append(seq)
        return variants
