"""The data evolution flywheel (V-Thinker): create, check, repair and extend verifiable visual problems.

`Flywheel` runs the rounds; creators (`ProceduralCreator`, `ModelCreator`), checkers
(`RuleChecker`, `ModelChecker`), repairers (`RuleRepairer`, `ModelRepairer`) and the
`ProceduralExtender` share the small protocols in `protocol`; pools and seeds are jsonl files.
"""

from .chat import EngineChat, OpenAIChat
from .checker import ModelChecker, RuleChecker
from .dedup import Deduplicator, TextEncoder
from .flywheel import Flywheel, round_dirs
from .model_creator import ModelCreator, parse_item
from .procedural import ProceduralCreator, ProceduralExtender
from .repairer import ModelRepairer, RuleRepairer

__all__ = [
    "Deduplicator",
    "EngineChat",
    "Flywheel",
    "ModelChecker",
    "ModelCreator",
    "ModelRepairer",
    "OpenAIChat",
    "ProceduralCreator",
    "ProceduralExtender",
    "RuleChecker",
    "RuleRepairer",
    "TextEncoder",
    "parse_item",
    "round_dirs",
]
