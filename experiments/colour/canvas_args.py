"""`--canvas` and `--outline` for the colour experiments: the procedural families' canvas is a
module-level setting (`vrl.data.procedural.base.BACKGROUND`, `OUTLINE`), read per image drawn."""

from __future__ import annotations

import argparse

from vrl.data.procedural import base


def add_canvas_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--canvas", help="R,G,B of the blank canvas (default: the data's BACKGROUND)")
    parser.add_argument(
        "--outline", help="R,G,B of the line round every filled object, or none (default: the data's OUTLINE)"
    )


def apply_canvas_args(args: argparse.Namespace) -> None:
    """Set the data's canvas and outline from the parsed `--canvas` / `--outline`, if given."""
    if args.canvas:
        base.BACKGROUND = _rgb(args.canvas)
    if args.outline:
        base.OUTLINE = None if args.outline == "none" else _rgb(args.outline)


def _rgb(text: str) -> tuple[int, int, int]:
    red, green, blue = (int(v) for v in text.split(","))
    return red, green, blue
