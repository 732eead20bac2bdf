"""What flows through one flywheel round, and the four roles that move it (V-Thinker's flywheel).

A round: sample combinations of knowledge points and tools -> a `Creator` writes candidate
items -> a `Checker` executes their code in the sandbox and accepts or rejects them -> a
`Repairer` rewrites items whose only fault is the text -> an `Extender` makes harder variants
-> accepted items' proposed knowledge points and tools are de-duplicated into the pools.
Each role is a small protocol with one class per strategy (procedural / model / rule).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Why a candidate was rejected; stable strings, counted per round in the report.
REJECT_UNPARSEABLE = "unparseable"  # the creator's output could not be read as an item
REJECT_RENDER = "render_failed"  # the image code raised, timed out or produced no image
REJECT_INVALID_IMAGE = "invalid_image"  # blank, unreadable or badly sized image
REJECT_UNVERIFIABLE = "unverifiable"  # the code states no facts the answer can be checked against
REJECT_AMBIGUOUS = "ambiguous"  # the rendered scene has no single right answer
REJECT_ANSWER = "answer_mismatch"  # the stated answer disagrees with the rendered scene (text fault)
REJECT_STEP = "incoherent_step"  # a trajectory step failed or did not edit the previous image sensibly
REJECT_DUPLICATE = "duplicate"  # the same question and image were accepted before
TEXT_ONLY_FAULTS = frozenset({REJECT_ANSWER})  # what a repairer may fix without touching the code


@dataclass
class KnowledgePoint:
    """One entry of the knowledge-point pool.

    `template` + `params` make it renderable by the procedural creator (empty for knowledge
    points proposed by a model, which the procedural creator skips); `description` is what the
    de-duplicator embeds; `parents` and `level` give the hierarchy (seeds are level 0).
    """

    id: str
    description: str
    domain: str
    template: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    level: int = 0
    round: int = 0  # the round that added it (0 = seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Tool:
    """One entry of the visual-tool pool: a Python function `name(image, **args) -> image`."""

    id: str
    name: str  # the function's name in `code`
    description: str
    domain: str
    code: str  # function source; stdlib + PIL only (it runs in the sandbox)
    args: dict[str, Any] = field(default_factory=dict)  # default keyword arguments
    parents: list[str] = field(default_factory=list)
    level: int = 0
    round: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Step:
    """One solution-trajectory step: reasoning text, then image-editing code run on the previous image."""

    text: str
    code: str
    tool: str = ""  # the tool id it uses ("" for free-form model code)


@dataclass
class Candidate:
    """A proposed item before checking. `spec` tells the rule checker how to re-derive the answer."""

    id: str
    question: str
    answer: str
    answer_type: str
    image_code: str
    domain: str
    creator: str
    round: int
    choices: list[str] = field(default_factory=list)
    trajectory: list[Step] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)  # {"template": ..., "params": ...}
    knowledge_points: list[str] = field(default_factory=list)  # ids it was made from
    tools: list[str] = field(default_factory=list)
    proposed_knowledge_points: list[KnowledgePoint] = field(default_factory=list)
    proposed_tools: list[Tool] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)  # item ids it extends
    difficulty: int = 1
    extension: str = ""  # "" | "parallel" | "sequential"
    repaired: bool = False


@dataclass
class Verdict:
    """What the checker found. `image` is the rendered PNG; `facts` what the code printed."""

    reasons: list[str] = field(default_factory=list)  # empty = accepted
    checks: list[str] = field(default_factory=list)  # checks passed, in order
    image: bytes | None = None
    step_images: list[bytes] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    derived_answer: str | None = None  # the answer the scene supports, when it could be derived

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def text_only(self) -> bool:
        """True when every fault is in the text, so rewriting question/answer could fix it."""
        return bool(self.reasons) and set(self.reasons) <= TEXT_ONLY_FAULTS


@dataclass
class Combination:
    """What a creator is asked to build on: a few knowledge points and tools from the pools."""

    knowledge_points: list[KnowledgePoint]
    tools: list[Tool]


class Creator(Protocol):
    name: str

    def create(
        self, combos: list[Combination], seed: int, round_index: int, work_dir: Path
    ) -> tuple[list[Candidate], int]:
        """(candidates for these combinations, how many outputs could not be read as an item)."""
        ...


class Checker(Protocol):
    def check(self, candidate: Candidate, sandbox: Any, scratch: Path) -> Verdict: ...


class Repairer(Protocol):
    def repair(self, candidate: Candidate, verdict: Verdict) -> Candidate | None:
        """A rewritten candidate (text only), or None when it cannot help."""
        ...


class Extender(Protocol):
    def extend(self, candidate: Candidate, seed: int, tools: list[Tool]) -> list[Candidate]:
        """Harder variants of an accepted candidate (parents set to its id)."""
        ...
