"""`python -m vrl [+experiment=NAME] [overrides]`: compose conf/ with Hydra and run the study."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from vrl.cli_errors import one_line_error
from vrl.defaults import register
from vrl.distributed import USER_ERROR_STATUS, is_spawned_rank, world
from vrl.interrupt import Interrupted

register()  # every typed default, as Hydra's `settings/<name>` nodes (vrl/defaults.py)

# The config tree ships inside the package (vrl/conf); users extend it with hydra.searchpath.
CONF_DIR = str(Path(__file__).resolve().parent / "conf")


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float | None:
    from vrl.run import run

    try:
        return run(cfg)
    except Interrupted as stop:  # a signal: checkpoint written, W&B closed; no job result
        stop.exit()
    except Exception as error:  # noqa: BLE001 - classify here, before Hydra adds its own report
        _exit_if_user_error(error)
        raise


def _exit_if_user_error(error: BaseException) -> None:
    """Print a fixable error as one line and exit 2; return (so the caller re-raises) for bugs."""
    if os.environ.get("VRL_FULL_ERROR") == "1":
        return
    message = one_line_error(error, CONF_DIR)
    if message is not None:
        if world().is_zero:  # every rank fails alike: one line, from rank 0
            print(f"vrl: error: {message}", file=sys.stderr)
        sys.exit(USER_ERROR_STATUS)


def _run_dir() -> str:
    """The run directory of the run in progress (for a message), or a placeholder."""
    import vrl.run

    return str(vrl.run.current_run_dir or "<run dir>")


def main() -> None:
    """Run Hydra; turn errors a user can fix into one line on stderr and exit status 2."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1" and not is_spawned_rank():
        os.environ["VRL_FULL_ERROR"] = "1"  # the user asked for full traces (ranks inherit it)
    # Let composition errors reach us instead of Hydra's multi-line report; we print one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    if not is_spawned_rank():  # rank 0 restores; the ranks it starts get its overrides
        from vrl.invocation import command, restore_overrides

        # A W&B service inherited from the parent process (a notebook, a test runner) would be
        # shared with every run it starts: a killed run's stream stayed there and the resumed
        # run's start was refused ("run ID ... is in use"). A vrl run starts its own.
        os.environ.pop("WANDB_SERVICE", None)

        os.environ.pop("VRL_COMMAND", None)
        os.environ["VRL_COMMAND"] = command()  # as typed; sweep jobs and ranks inherit it

        sys.argv[1:], restored = restore_overrides(sys.argv[1:])
        if restored:
            print(f"vrl: resuming with the run's own overrides: {' '.join(restored)}", file=sys.stderr)
    try:
        _hydra_main()
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly, like any CLI
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:  # Ctrl-C: what is written stays (DONE.json, checkpoints, eval's cache)
        if os.environ.get("VRL_FULL_ERROR") == "1":
            raise
        print(
            "vrl: error: interrupted (Ctrl-C): finished stages, checkpoints and eval's scored items are "
            f"kept; rerun the same command with hydra.run.dir={_run_dir()} to resume",
            file=sys.stderr,
        )
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - classify, then re-raise what is a bug
        _exit_if_user_error(error)
        raise


if __name__ == "__main__":
    main()
