"""The primitive library rendering code is composed from: self-contained source snippets.

Generated programs run in the sandbox with only the stdlib and PIL, so each snippet is plain
source text, not an import of vrl. A program is HEADER + the primitives it needs + a scene body
+ FOOTER; it saves `image.png`, sets `processed_path` and prints one JSON line of scene facts
(what was really drawn, so the checker can re-derive the answer from the image's own program).
Sizes are in pixels of a 56 px image, like vrl's procedural families (objects >= 8 px radius).
"""

from __future__ import annotations

from vrl.data.procedural.base import COLORS, PALETTE, SHAPES  # noqa: F401  (re-exported to templates)

# The procedural families' colours and shapes, so flywheel items speak the hold-out's vocabulary.
LETTERS = ("A", "B", "C", "D", "E", "F")

HEADER = """import json, math, random
from PIL import Image, ImageDraw
SIZE = {size}
PALETTE = {palette}
rng = random.Random({seed})
image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
pen = ImageDraw.Draw(image)
facts = {{}}
"""

DRAW_SHAPE = """
def draw_shape(shape, cx, cy, r, fill):
    if shape == "circle":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        h = r * 0.85
        pen.rectangle((cx - h, cy - h, cx + h, cy + h), fill=fill)
    elif shape == "triangle":
        pen.polygon([(cx + r * math.cos(-math.pi / 2 + 2 * math.pi * k / 3),
                      cy + r * math.sin(-math.pi / 2 + 2 * math.pi * k / 3)) for k in range(3)], fill=fill)
    else:
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        pen.polygon(pts, fill=fill)
"""

# Rejection sampling with a bounded number of tries: an object that finds no room is dropped,
# so the scene can differ from the plan (the creator's answer is then wrong: a text fault).
PLACE_OBJECTS = """
def place_objects(plan, gap=2.0, tries=40):
    placed = []
    for shape, color, r in plan:
        for _ in range(tries):
            x, y = rng.uniform(r + 1, SIZE - r - 1), rng.uniform(r + 1, SIZE - r - 1)
            if all(math.hypot(x - o["x"], y - o["y"]) >= r + o["r"] + gap for o in placed):
                draw_shape(shape, x, y, r, PALETTE[color])
                placed.append({"shape": shape, "color": color, "x": round(x, 1), "y": round(y, 1), "r": round(r, 1)})
                break
    return placed
"""

POLYGON = """
def draw_polygon(sides, color, r):
    x, y = rng.uniform(r + 1, SIZE - r - 1), rng.uniform(r + 1, SIZE - r - 1)
    rot = rng.uniform(0, 2 * math.pi)
    pen.polygon([(x + r * math.cos(rot + 2 * math.pi * k / sides), y + r * math.sin(rot + 2 * math.pi * k / sides))
                 for k in range(sides)], fill=PALETTE[color])
    return {"sides": sides, "color": color, "x": round(x, 1), "y": round(y, 1), "r": round(r, 1)}
"""

GRID = """
def draw_grid(lines):
    for k in range(1, lines + 1):
        t = round(k * SIZE / (lines + 1))
        pen.line((0, t, SIZE, t), fill=(205, 205, 205))
        pen.line((t, 0, t, SIZE), fill=(205, 205, 205))
"""

BARS = """
from PIL import ImageFont
FONT = ImageFont.load_default(size=10)


def draw_bars(heights, colors, letters):
    n = len(heights)
    margin, baseline = 4, SIZE - 13
    slot, width = (SIZE - 2 * margin) / n, max(4, 32 / n)
    pen.line((margin - 2, baseline, SIZE - margin + 2, baseline), fill=(90, 90, 90))
    for i, (h, c) in enumerate(zip(heights, colors)):
        cx = margin + slot * (i + 0.5)
        pen.rectangle((cx - width / 2, baseline - h, cx + width / 2, baseline), fill=PALETTE[c])
        pen.text((cx, baseline + 2), letters[i], fill=(0, 0, 0), font=FONT, anchor="mt")
"""

FOOTER = """image.save("image.png")
processed_path = "image.png"
print(json.dumps(facts, sort_keys=True))
"""


def program(seed: int, size: int, colors: list[str], parts: list[str], body: str) -> str:
    """A complete rendering program: header, the needed primitives, the scene body, footer."""
    palette = {c: PALETTE[c] for c in sorted(set(colors))}
    return HEADER.format(size=size, palette=palette, seed=seed) + "".join(parts) + "\n" + body + "\n" + FOOTER
