"""experiments/recipes/*.md against the presets: every table row that names a vrl key holds.

Each recipe table has the columns `| what | paper / release | source | vrl key | value |`. The
value is YAML in backticks (compared with the composed config; floats approximately), or
`contains` + YAML (the key's text contains it, or its list/mapping has it). Keys under
`stage.<name>.` are also checked on the instantiated settings object, the thing the stage runs
with. The prompt texts a table points at by name are checked against their sources here too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hydra.utils import instantiate
from omegaconf import OmegaConf
from vrl_testing import REPO, compose

RECIPES = REPO / "experiments" / "recipes"
PRESETS = {
    "vlrethinker_7b": "vlrethinker_7b.md",
    "vlrethinker_72b": "vlrethinker_72b.md",
    "vthinker_7b": "vthinker_7b.md",
    "deepeyes_7b": "deepeyes_7b.md",
}
_TICKED = re.compile(r"^`(.*)`$")


def table_rows(path: Path) -> list[tuple[str, str, str]]:
    """(what, vrl key, value cell) for each row of the file's recipe tables that names a key."""
    rows, columns = [], None
    for line in path.read_text().splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            columns = cells
            continue
        if set(cells) <= {"---", ""} or "vrl key" not in columns:
            continue
        record = dict(zip(columns, cells))
        key = _TICKED.match(record["vrl key"])
        if key:
            rows.append((record["what"], key.group(1), record["value"]))
    return rows


def expected(cell: str) -> tuple[str, object]:
    """("equals" | "contains", the YAML value) of a value cell."""
    mode = "equals"
    if cell.startswith("contains "):
        mode, cell = "contains", cell.removeprefix("contains ").strip()
    ticked = _TICKED.match(cell)
    assert ticked, f"value cell is not in backticks: {cell!r}"
    return mode, yaml.safe_load(ticked.group(1))


def holds(mode: str, want: object, got: object) -> bool:
    if mode == "contains":
        return want in got if isinstance(got, (str, list, dict)) else False
    if isinstance(want, float) and isinstance(got, (int, float)):
        return got == pytest.approx(want, rel=1e-9, abs=1e-12)
    return want == got


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_recipe_table_matches_the_preset(preset):
    rows = table_rows(RECIPES / PRESETS[preset])
    assert len(rows) >= 10, "a recipe table with hardly any checked rows"
    cfg = compose([f"+experiment={preset}"])
    plain = OmegaConf.to_container(cfg, resolve=True)
    settings = {}
    wrong = []
    for what, key, cell in rows:
        mode, want = expected(cell)
        node = plain
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{preset}: {what}: no key {key}"
            node = node[part]
        if not holds(mode, want, node):
            wrong.append(f"{what}: {key} = {node!r}, the table says {mode} {want!r}")
        parts = key.split(".")
        if parts[0] == "stage" and len(parts) == 3:
            if parts[1] not in settings:
                settings[parts[1]] = instantiate(cfg.stage[parts[1]])
            value = getattr(settings[parts[1]], parts[2])
            value = list(value) if isinstance(value, tuple) else value
            if not holds(mode, want, value):
                wrong.append(f"{what}: the {parts[1]} settings have {parts[2]} = {value!r}")
    assert not wrong, "\n".join(wrong)


def test_every_real_preset_has_a_recipe_table():
    experiments = {p.stem for p in (REPO / "vrl" / "conf" / "experiment").glob("*.yaml")}
    covered = set(PRESETS) | {"vthinker_7b_flywheel"}  # the flywheel variant is in vthinker_7b.md
    cpu_only = {"default", "eval", "vthinker_tiny"}  # the embedded default and CPU studies
    assert experiments - cpu_only <= covered
    index = (RECIPES / "README.md").read_text()
    assert all(f"]({name})" in index for name in PRESETS.values())


def test_named_prompt_templates_are_the_releases():
    from vrl.data.prompts import TEMPLATES, VLRETHINKER_RETHINK, VTHINKER_SYSTEM, VTHINKER_USER

    # We-Math/V-Thinker data/prompt.txt (trailing spaces dropped): first and last lines.
    assert VTHINKER_SYSTEM.startswith(
        "You are a helpful assistant.\n\nSolve the following problem step by step"
    )
    assert VTHINKER_SYSTEM.endswith("for further processing within the sandbox environment.")
    assert "<code>\n  ```python\n  # your code.\n  ```\n  </code>" in VTHINKER_SYSTEM
    # eval/vtbench_IR/utils.py generate_prompt_final_qa: image, question, image_path hint, format.
    assert VTHINKER_USER.startswith("<image>\n{question}\n") and "image_path = '" in VTHINKER_USER
    assert (
        "<think>Your detailed reasoning process, including any code, should go here.</think>" in VTHINKER_USER
    )
    # VL-Rethinker prompts_dataset.py templates["rethink"].
    assert VLRETHINKER_RETHINK.endswith("Remember to put your final answer within \\boxed{}.")
    assert set(TEMPLATES) == {"vthinker_system", "vthinker_user", "vlrethinker_rethink"}
    virl = OmegaConf.load(REPO / "vrl" / "conf" / "data" / "virl39k.yaml").prompt_template
    assert virl == "{question}\n\nPlease reason step by step, and put your final answer within \\boxed{}."
