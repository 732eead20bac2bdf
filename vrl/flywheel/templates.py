"""Knowledge-point templates: how the procedural creator turns a knowledge point into an item.

A knowledge point is (template, params); params are the knobs its evolution widens (which
shapes, colours, counts, sides, bar gaps ...). Per template:
  plan(params, rng, distractors) -> a plan dict (question, planned answer, what to draw)
  body(plan) -> the scene source composed from `primitives` (it fills `facts`)
  solve(plan, facts) -> (answer, None) re-derived from what was really drawn, or (None, reason)
  widen(params, rng) -> a neighbouring params dict (one knob moved), or None at the edge
Question wording for the basic variants matches vrl's procedural families, so flywheel items
teach the skills the procedural hold-out tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import primitives as P

PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars"}
GAP_BANDS = ([0.3, 0.5], [0.15, 0.3], [0.08, 0.15])  # tallest-vs-runner-up, fraction of chart height
DIRECTIONS = ("left", "right", "above", "below")
MAX_COUNT, MAX_SIDES, MAX_BARS = 6, 8, 6


@dataclass(frozen=True)
class Template:
    name: str
    domain: str
    answer_type: str
    plan: Callable[[dict, random.Random, int], dict]
    body: Callable[[dict], tuple[list[str], str]]  # (primitives, scene source)
    solve: Callable[[dict, dict], tuple[str | None, str | None]]
    widen: Callable[[dict, random.Random], dict | None]


def _add_one(values: list[str], universe: tuple[str, ...], rng: random.Random) -> list[str] | None:
    missing = [v for v in universe if v not in values]
    return None if not missing else [*values, rng.choice(missing)]


def _widen_lists(params: dict, rng: random.Random, keys: dict[str, tuple]) -> dict | None:
    """Add one unseen value to one of the list knobs in `keys` (key -> universe)."""
    options = [k for k, universe in keys.items() if any(v not in params[k] for v in universe)]
    if not options:
        return None
    key = rng.choice(options)
    return {**params, key: _add_one(list(params[key]), keys[key], rng)}


def _objects_body(plan: dict) -> tuple[list[str], str]:
    return [P.DRAW_SHAPE, P.PLACE_OBJECTS], f'facts["objects"] = place_objects({plan["objects"]!r})'


# -- count: "How many circles are there?" --------------------------------------------------
def _count_plan(params: dict, rng: random.Random, distractors: int) -> dict:
    shape = rng.choice(params["shapes"])
    color = params.get("target_color")
    n = rng.randint(1, params["max_count"])
    pool = [c for c in params["colors"] if c != color] or list(params["colors"])
    objects = [
        (shape, color or rng.choice(params["colors"]), round(rng.uniform(8.0, 10.5), 1)) for _ in range(n)
    ]
    others = [s for s in P.SHAPES if s != shape]
    for _ in range(distractors):  # other shapes (or same shape, other colour): never counted
        other = (
            (shape, rng.choice(pool))
            if color and rng.random() < 0.5
            else (rng.choice(others), rng.choice(pool))
        )
        objects.append((*other, round(rng.uniform(8.0, 10.5), 1)))
    rng.shuffle(objects)
    what = f"{color} {PLURAL[shape]}" if color else PLURAL[shape]
    return {
        "question": f"How many {what} are there?",
        "answer": str(n),
        "objects": objects,
        "target": [shape, color],
        "difficulty": 1 if n <= 2 else 2 if n == 3 else 3,
    }


def _count_solve(plan: dict, facts: dict) -> tuple[str | None, str | None]:
    shape, color = plan["target"]
    n = sum(o["shape"] == shape and (color is None or o["color"] == color) for o in facts.get("objects", []))
    return (str(n), None) if n > 0 else (None, "nothing to count")


def _count_widen(params: dict, rng: random.Random) -> dict | None:
    moves = ["lists"] + (["more"] if params["max_count"] < MAX_COUNT else [])
    moves += ["target"] if params.get("target_color") is None and len(params["colors"]) > 1 else []
    move = rng.choice(moves)
    if move == "more":
        return {**params, "max_count": params["max_count"] + 1}
    if move == "target":  # composition with the colour domain: count only one colour
        return {**params, "target_color": rng.choice(params["colors"])}
    return _widen_lists(params, rng, {"shapes": P.SHAPES, "colors": P.COLORS})


# -- attribute: "What color is the shape?" / "What shape is this?" --------------------------
def _attr_plan(ask: str) -> Callable[[dict, random.Random, int], dict]:
    def plan(params: dict, rng: random.Random, distractors: int) -> dict:
        shape, color = rng.choice(params["shapes"]), rng.choice(params["colors"])
        r = round(rng.uniform(10.0, 18.0) if not distractors else rng.uniform(8.0, 11.0), 1)
        objects = [(shape, color, r)]
        for _ in range(distractors):  # distinct in the attribute that names the target
            if ask == "color":
                others = [s for s in P.SHAPES if s != shape and s not in [o[0] for o in objects]]
                objects.append((rng.choice(others), rng.choice(P.COLORS), round(rng.uniform(8.0, 10.5), 1)))
            else:
                others = [c for c in P.COLORS if c != color and c not in [o[1] for o in objects]]
                objects.append((rng.choice(P.SHAPES), rng.choice(others), round(rng.uniform(8.0, 10.5), 1)))
        if ask == "color":
            question = f"What color is the {shape}?" if distractors else "What color is the shape?"
        else:
            question = f"What shape is the {color} one?" if distractors else "What shape is this?"
        return {
            "question": question,
            "answer": color if ask == "color" else shape,
            "objects": objects,
            "target": [shape, color],
            "ask": ask,
            "difficulty": 1 if r >= 14 else 2,
        }

    return plan


def _attr_solve(plan: dict, facts: dict) -> tuple[str | None, str | None]:
    shape, color = plan["target"]
    key, other = ("shape", "color") if plan["ask"] == "color" else ("color", "shape")
    objects = facts.get("objects", [])
    named = shape if plan["ask"] == "color" else color
    hits = [o for o in objects if len(objects) == 1 or o[key] == named]
    if len(hits) != 1:
        return None, f"{len(hits)} objects match the question"
    return hits[0][other], None


def _attr_widen(params: dict, rng: random.Random) -> dict | None:
    return _widen_lists(params, rng, {"shapes": P.SHAPES, "colors": P.COLORS})


# -- polygon: "How many sides does the polygon have?" ---------------------------------------
def _poly_plan(params: dict, rng: random.Random, distractors: int) -> dict:
    sides = rng.choice(params["sides"])
    return {
        "question": "How many sides does the polygon have?",
        "answer": str(sides),
        "sides": sides,
        "color": rng.choice(params["colors"]),
        "r": round(rng.uniform(17.0, 24.0), 1),
        "grid": distractors,
        "difficulty": 1 if sides <= 4 else 2 if sides == 5 else 3,
    }


def _poly_body(plan: dict) -> tuple[list[str], str]:
    grid = f"draw_grid({plan['grid']})\n" if plan["grid"] else ""
    return [
        P.GRID,
        P.POLYGON,
    ], f'{grid}facts["polygon"] = draw_polygon({plan["sides"]}, {plan["color"]!r}, {plan["r"]})'


def _poly_widen(params: dict, rng: random.Random) -> dict | None:
    if rng.random() < 0.5 and max(params["sides"]) < MAX_SIDES:
        return {**params, "sides": [*params["sides"], max(params["sides"]) + 1]}
    return _widen_lists(params, rng, {"colors": P.COLORS})


# -- chart: "Which bar is the tallest? Answer with its letter." ------------------------------
def _bar_plan(params: dict, rng: random.Random, distractors: int) -> dict:
    n, height = params["bars"], 40.0
    top = rng.uniform(0.6, 1.0) * height
    runner = top - rng.uniform(*params["gap"]) * height
    rest = [rng.uniform(min(0.15 * height, runner), runner) for _ in range(n - 2)]
    heights = [round(h, 1) for h in [top, runner, *rest]]
    rng.shuffle(heights)
    if params["which"] == "shortest":  # mirror the heights: the planned winner becomes the shortest
        heights = [round(height + 0.15 * height - h, 1) for h in heights]
    pick = max if params["which"] == "tallest" else min
    colors = rng.sample(P.COLORS, n)
    return {
        "question": f"Which bar is the {params['which']}? Answer with its letter.",
        "answer": P.LETTERS[heights.index(pick(heights))],
        "heights": heights,
        "colors": colors,
        "choices": colors,
        "which": params["which"],
        "grid": distractors,
        "difficulty": 1 + GAP_BANDS.index(list(params["gap"])) if list(params["gap"]) in GAP_BANDS else 2,
    }


def _bar_body(plan: dict) -> tuple[list[str], str]:
    grid = f"draw_grid({plan['grid']})\n" if plan["grid"] else ""
    letters = list(P.LETTERS[: len(plan["heights"])])
    # Bars are drawn at whole pixels: a planned gap below 1 px is a tie on the image.
    return [P.GRID, P.BARS], (
        f"{grid}heights = [round(h) for h in {plan['heights']!r}]\n"
        f'draw_bars(heights, {plan["colors"]!r}, {letters!r})\nfacts["heights"] = heights'
    )


def _bar_solve(plan: dict, facts: dict) -> tuple[str | None, str | None]:
    heights = facts.get("heights") or []
    if not heights:
        return None, "no bars drawn"
    best = max(heights) if plan["which"] == "tallest" else min(heights)
    if heights.count(best) > 1:
        return None, "tie between bars"
    return P.LETTERS[heights.index(best)], None


def _bar_widen(params: dict, rng: random.Random) -> dict | None:
    moves = ["which"] + (["bars"] if params["bars"] < MAX_BARS else [])
    band = GAP_BANDS.index(list(params["gap"])) if list(params["gap"]) in GAP_BANDS else 0
    moves += ["gap"] if band + 1 < len(GAP_BANDS) else []
    move = rng.choice(moves)
    if move == "bars":
        return {**params, "bars": params["bars"] + 1}
    if move == "gap":
        return {**params, "gap": list(GAP_BANDS[band + 1])}
    return {**params, "which": "shortest" if params["which"] == "tallest" else "tallest"}


# -- spatial: "Is the red shape left of, right of, above or below the blue shape?" ----------
def _spatial_plan(params: dict, rng: random.Random, distractors: int) -> dict:
    direction = rng.choice(params["directions"])
    objects = [
        (rng.choice(params["shapes"]), "red", round(rng.uniform(8.0, 10.5), 1)),
        (rng.choice(params["shapes"]), "blue", round(rng.uniform(8.0, 10.5), 1)),
    ]
    objects += [
        (rng.choice(P.SHAPES), rng.choice(["green", "yellow", "purple", "orange"]), 8.0)
        for _ in range(distractors)
    ]
    return {
        "question": "Is the red shape left of, right of, above or below the blue shape?",
        "answer": direction,
        "objects": objects,
        "direction": direction,
        "difficulty": 1 + min(distractors, 2),
    }


def _spatial_body(plan: dict) -> tuple[list[str], str]:
    (s1, _, r1), (s2, _, r2) = plan["objects"][:2]
    dx, dy = {"left": (-1, 0), "right": (1, 0), "above": (0, -1), "below": (0, 1)}[plan["direction"]]
    # The red shape is placed first, the blue one at a sampled offset along the planned axis
    # (plus a cross offset); blue is clamped into the image, which can flip or blur the relation.
    body = (
        f"main = rng.uniform({r1 + r2 + 3}, SIZE - {r1 + r2 + 2})\ncross = rng.uniform(-0.5, 0.5) * main\n"
        f"x1 = rng.uniform({r1 + 1}, SIZE - {r1 + 1}); y1 = rng.uniform({r1 + 1}, SIZE - {r1 + 1})\n"
        f"x2 = min(max(x1 + {dx} * main + {dy} * cross, {r2 + 1}), SIZE - {r2 + 1})\n"
        f"y2 = min(max(y1 + {dy} * main + {dx} * cross, {r2 + 1}), SIZE - {r2 + 1})\n"
        f"draw_shape({s1!r}, x1, y1, {r1}, PALETTE['red']); draw_shape({s2!r}, x2, y2, {r2}, PALETTE['blue'])\n"
        'facts["red"] = [round(x1, 1), round(y1, 1)]; facts["blue"] = [round(x2, 1), round(y2, 1)]\n'
        f'facts["radii"] = [{r1}, {r2}]'
    )
    return [P.DRAW_SHAPE], body


def _spatial_solve(plan: dict, facts: dict) -> tuple[str | None, str | None]:
    (x1, y1), (x2, y2) = facts["red"], facts["blue"]
    dx, dy = x1 - x2, y1 - y2  # red relative to blue
    if max(abs(dx), abs(dy)) < sum(facts["radii"]) or min(abs(dx), abs(dy)) > 0.6 * max(abs(dx), abs(dy)):
        return None, "shapes overlap or sit on a diagonal"
    if abs(dx) >= abs(dy):
        return ("left" if dx < 0 else "right"), None
    return ("above" if dy < 0 else "below"), None


def _spatial_widen(params: dict, rng: random.Random) -> dict | None:
    return _widen_lists(params, rng, {"directions": DIRECTIONS, "shapes": P.SHAPES})


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("count", "counting", "integer", _count_plan, _objects_body, _count_solve, _count_widen),
        Template("color_of", "color", "text", _attr_plan("color"), _objects_body, _attr_solve, _attr_widen),
        Template("shape_of", "shape", "text", _attr_plan("shape"), _objects_body, _attr_solve, _attr_widen),
        Template(
            "polygon_sides",
            "geometry",
            "integer",
            _poly_plan,
            _poly_body,
            lambda plan, facts: (str(facts["polygon"]["sides"]), None),
            _poly_widen,
        ),
        Template("bar_extreme", "chart", "choice", _bar_plan, _bar_body, _bar_solve, _bar_widen),
        Template(
            "relative_position",
            "spatial",
            "text",
            _spatial_plan,
            _spatial_body,
            _spatial_solve,
            _spatial_widen,
        ),
    )
}


def describe(template: str, params: dict[str, Any]) -> str:
    """The knowledge point's text (what de-duplication embeds): domain, skill and every knob."""
    knobs = "; ".join(
        f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in sorted(params.items())
    )
    return f"{TEMPLATES[template].domain}: {template.replace('_', ' ')} ({knobs})"


def _knob(value: Any) -> str:
    # Lists are sets of allowed values: sorted, so two orders of the same set read the same.
    return (
        ",".join(sorted(map(str, value), key=lambda v: (len(v), v)))
        if isinstance(value, list)
        else str(value)
    )


def colors_of(plan: dict) -> list[str]:
    """Every colour a plan draws (the program's palette)."""
    named = [o[1] for o in plan.get("objects", [])] + list(plan.get("colors", [])) + [plan.get("color")]
    return [c for c in named if c] or ["red"]
