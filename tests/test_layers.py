"""vrl's packages form layers: every import (module level, inside functions, under TYPE_CHECKING)
goes from a package to one strictly below it, so no two packages import each other and nothing
imports upward. A new package must be placed in LAYERS; a new import upward fails here."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from vrl_testing import REPO

# Bottom up. A package may import packages of lower layers only (and itself).
LAYERS: list[set[str]] = [
    {"errors", "partials"},
    {"settings", "config_check", "cli_errors", "distributed", "launcher", "console", "progress"},
    {"answer", "sandbox", "model", "tool", "metrics_csv", "trainer", "report", "interrupt", "invocation"},
    {"data", "loggers", "sweep_job"},  # data: sources and the `Sample` schema; loggers: W&B over the CSV log
    {"policy"},  # trajectories, batches, log-probs, sampling: what flows between rollout and loss
    {"rollout", "reward", "algorithm", "replay", "rethink", "benchmark", "flywheel"},
    {"rl", "sft"},
    {"components"},
    {"stages"},
    {"run", "defaults"},
    {"__main__"},
]
LAYER = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph(root: Path) -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files that import it (every import statement, anywhere)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        source = _package(".".join(parts))
        package_parts = parts if path.name == "__init__.py" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package_parts[: len(package_parts) - node.level + 1] if node.level else []
                targets = [".".join([*base, node.module] if node.module else base)]
            else:
                continue
            for target in targets:
                if target == "vrl" or target.startswith("vrl."):
                    imported = _package(target)
                    if imported not in (source, "__init__"):
                        graph[source][imported].add(str(path.relative_to(root.parent)))
    return graph


def test_every_package_is_placed_in_a_layer():
    packages = {p.stem if p.is_file() else p.name for p in (REPO / "vrl").iterdir()}
    packages = {p for p in packages if not p.startswith("_") or p == "__main__"} - {"conf", "__pycache__"}
    assert packages - set(LAYER) == set(), "place the new package in LAYERS"


def test_imports_only_go_down():
    upward = [
        f"{source} (layer {LAYER[source]}) imports {target} (layer {LAYER[target]}) in {sorted(files)}"
        for source, targets in import_graph(REPO / "vrl").items()
        for target, files in targets.items()
        if LAYER[target] >= LAYER[source]
    ]
    assert not upward, "\n".join(upward)


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path):
    root = tmp_path / "vrl"
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    (root / "low" / "__init__.py").write_text("from ..high import thing\n")
    (root / "low" / "a.py").write_text("def f():\n    from vrl.high.b import x\n")
    graph = import_graph(root)
    assert set(graph["low"]) == {"high"}
    assert graph["low"]["high"] == {"vrl/low/__init__.py", "vrl/low/a.py"}
