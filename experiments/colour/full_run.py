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

from canvas_args import add_canvas_args, apply_canvas_args  # this folder (scripts run by path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_canvas_args(parser)
    args, overrides = parser.parse_known_args()
    apply_canvas_args(args)
    from vrl.__main__ import main as vrl_main

    sys.argv = ["vrl", *overrides]
    vrl_main()


if __name__ == "__main__":
    main()
