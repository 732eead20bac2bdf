"""`python -m vrl` on another canvas: the full-run tables of README.md.

    OMP_NUM_THREADS=1 python experiments/colour/full_run.py --canvas 255,255,255 --outline none \\
        seed=1 hydra.run.dir=/tmp/seeds/white_s1 logger.wandb_mode=disabled
    OMP_NUM_THREADS=1 python experiments/colour/full_run.py seed=1 hydra.run.dir=/tmp/seeds/grey_s1 \\
        logger.wandb_mode=disabled                                      # the default canvas

Every argument after the two options is a Hydra override, as `python -m vrl` takes it. The
canvas is a module-level setting of the procedural families (`vrl.data.procedural.base`),
read at draw time, so it is set here before vrl's entry point runs.
"""

from __future__ import annotations

import argparse
import sys

import vrl.data.procedural.base as base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--canvas", help="R,G,B of the blank canvas (default: the data's BACKGROUND)")
    parser.add_argument("--outline", help="R,G,B of the line round every filled object, or none")
    args, overrides = parser.parse_known_args()
    if args.canvas:
        base.BACKGROUND = tuple(int(v) for v in args.canvas.split(","))
    if args.outline:
        base.OUTLINE = None if args.outline == "none" else tuple(int(v) for v in args.outline.split(","))
    from vrl.__main__ import main as vrl_main

    sys.argv = ["vrl", *overrides]
    vrl_main()


if __name__ == "__main__":
    main()
