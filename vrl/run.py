"""`run(cfg)`: the whole study. Check config -> build components -> pre-flight -> run stages -> summarise.

Stages run in the order of `cfg.stages`; each one's products (paths) feed the next. A stage
whose `<run_dir>/<stage>/DONE.json` exists is skipped, so re-running a run directory resumes
it (`python -m vrl hydra.run.dir=<run_dir>`); stages that checkpoint (SFT, RL) resume inside.
The components are closed when the run ends, however it ends (`Components.closing`).

Several processes (`trainer.devices * trainer.num_nodes > 1`): every rank runs this function
(`vrl.distributed`: SLURM/torchrun start them, else rank 0 starts the others here). Stages that
make products alone (data, flywheel) run on rank 0 while the others wait; training and eval run
on every rank (a stage's `all_ranks = True`); rank 0 alone writes DONE.json, the run record and
the summary. Every start is checked against the run directory's record and logged in
`invocations.jsonl` (`vrl.invocation`); a stop signal ends the run through `vrl.interrupt`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vrl import invocation, sweep_job
from vrl.components import build, build_components
from vrl.config_check import check_run_keys, check_targets
from vrl.console import quiet_console
from vrl.distributed import World, barrier, init_process_group, spawn_local_ranks, stop_children, world
from vrl.errors import ConfigError
from vrl.interrupt import GUARD, Interrupted
from vrl.invocation import flatten
from vrl.report import StageRecord, write_summary
from vrl.stages import Stage, stage_for
from vrl.stages.base import StageContext, check_done_products, read_done, write_done
from vrl.stages.preflight import (
    check_given_products,
    check_model_environment,
    check_model_source,
    check_run_dir,
)
from vrl.trainer import TrainerSettings

log = logging.getLogger("vrl")
current_run_dir: Path | None = None  # the run directory of the run in progress (for messages)


def run(cfg: DictConfig) -> float | None:
    """Run every stage of the study; return `cfg.objective` (a sweeper's target) if it was measured."""
    global current_run_dir
    quiet_console()  # third-party chatter to the job log only (vrl.console)
    run_dir = Path(cfg.paths.run_dir).resolve()
    current_run_dir = run_dir
    check_run_dir(run_dir)
    check_run_keys(cfg)  # seed, name, tags, stages, ...; no key that nothing reads
    stage_names = list(cfg.stages)
    checked = check_targets(cfg)
    log.info("run %s in %s; %d config nodes checked; stages: %s", cfg.name, run_dir, checked, stage_names)

    GUARD.install()  # SIGTERM/SIGINT/SIGUSR1/SIGUSR2 stop the run cleanly (vrl.interrupt)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["logger_group"] = _wandb_group(cfg, run_dir)
    stages = {name: stage_for(name, build(f"stage.{name}", cfg.stage[name])) for name in stage_names}
    changed = invocation.check_config(cfg, run_dir)  # before any rank writes anything
    here, children = _start_ranks(cfg, run_dir)
    barrier()
    number = 0
    if here.is_zero:
        invocation.record(cfg, run_dir, changed)
        number = invocation.start(run_dir, changed, here.size)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    status = "failed"
    try:
        components = build_components(cfg)
        with components.closing():
            if components.logger is not None:
                components.logger.group = components.logger.group or resolved["logger_group"]
                components.logger.tags = [*components.logger.tags, *(cfg.get("tags") or [])]
                swept = sweep_job.current_job()
                components.logger.run_name = sweep_job.label(swept) or cfg.name
                names = sweep_job.short_names(list(swept))
                components.logger.swept = {names[key]: value for key, value in swept.items()}
            given = {k: str(v) for k, v in (cfg.get("products") or {}).items() if v}

            def context(name: str) -> StageContext:
                return StageContext(
                    name=name, run_dir=run_dir, components=components, config=resolved, seed=cfg.seed
                )

            preflight(stages, given, run_dir, context, declared=(cfg.get("products") or {}).keys())
            if here.is_zero:
                warn_settings_changed(stages, run_dir, resolved)
            records = _run_stages(stages, given, run_dir, context, here)
        status = "finished"
    except Interrupted as stop:
        stop.run_dir = run_dir
        status = f"interrupted: {stop.describe()}"
        raise
    except BaseException as error:
        status = f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
        raise
    finally:
        if here.is_zero:
            invocation.end(run_dir, number, status)
        if children:
            codes = stop_children(children, timeout=120 if status == "finished" else 10)
            if status == "finished" and any(codes):
                raise RuntimeError(
                    f"ranks 1..{len(children)} exited with {codes}: see their logs in {run_dir}"
                )
    if here.is_zero:
        write_summary(
            run_dir,
            cfg.name,
            records,
            command=invocation.command(),
            appendix={"Invocations": invocation.table(run_dir)},
        )
    objective = cfg.get("objective")
    metrics = {k: v for r in records for k, v in r.metrics.items()}
    return float(metrics[objective]) if objective and objective in metrics else None


def preflight(
    stages: dict[str, Stage],
    given: dict[str, str],
    run_dir: Path,
    context: Callable[[str], StageContext],
    declared: Iterable[str] = (),
) -> None:
    """Before any work: every stage's own check, and that each stage's products are made
    before it needs them (by an earlier stage in `stages`, a finished one, or `products.*`);
    a finished stage's products still exist; the configured model can be had where a stage
    loads it; products given from outside are what they claim (`declared`: the keys of
    `products`, which a stage may read without anyone making them).

    A stage that only reads a product it may go without (eval reads `model`, else it scores the
    configured model) must not run before the stage that makes it, unless another stage uses
    the product afterwards (`[eval, sft, eval_after]` compares before and after; `[data, eval,
    sft]` would score the untrained model and train one nobody scores).
    """
    order = list(stages.items())
    known = set(given)
    model_checked = False
    for position, (name, stage) in enumerate(order):
        done = read_done(run_dir / name)
        if done is not None:
            check_done_products(name, done, run_dir)
            known |= set(done["products"])
            continue
        stage.check(context(name))
        if "model" in stage.reads:  # the stage loads a model: the product, else the configured one
            check_model_environment(context(name).components.model)
            if "model" not in known and not model_checked:
                check_model_source(context(name).components.model)
                model_checked = True
        for key in stage.requires:
            if key not in known:
                makers = [other for other, s in order[position + 1 :] if key in s.writes]
                hint = (
                    f"stage {makers[0]!r} makes it but runs later: reorder `stages`"
                    if makers
                    else f"add the stage that makes it to `stages`, or pass products.{key}=<path>"
                )
                raise ConfigError(
                    f"stage {name!r} needs product {key!r}, which nothing before it makes: {hint}"
                )
        for key in set(stage.reads) - known - set(stage.writes):
            makers = [i for i, (_, s) in enumerate(order) if i > position and key in s.writes]
            if makers and not any(key in s.reads for _, s in order[makers[-1] + 1 :]):
                maker = order[makers[-1]][0]
                raise ConfigError(
                    f"stage {name!r} would use the configured {key}, but {maker!r} makes the {key!r} product "
                    f"later and no stage uses it: put {maker!r} before {name!r} in `stages`"
                )
        known |= set(stage.writes)
    check_given_products(stages, given, declared)


def _run_stages(
    stages: dict[str, Stage],
    given: dict[str, str],
    run_dir: Path,
    context: Callable[[str], StageContext],
    here: World,
) -> list[StageRecord]:
    products = dict(given)
    records: list[StageRecord] = []
    for name, stage in stages.items():
        stage_dir = run_dir / name
        done = read_done(stage_dir)
        if done is not None:
            log.info("stage %s: finished earlier (%.1f s), skipping", name, done["seconds"])
            products.update(done["products"])
            records.append(
                StageRecord(name, "skipped (done)", done["seconds"], done["metrics"], done.get("tables", {}))
            )
            continue
        everyone = stage.all_ranks
        log.info(
            "stage %s: starting%s", name, "" if everyone or here.size == 1 else " (rank 0; the others wait)"
        )
        start = time.perf_counter()
        if everyone or here.is_zero:
            result = stage.run(context(name), dict(products))
        barrier()  # every rank's share is done (and rank 0's products written)
        seconds = time.perf_counter() - start
        if here.is_zero:
            products.update(result.products)
            write_settings(stage_dir, context(name).config)
            write_done(
                stage_dir,
                {
                    "products": result.products,
                    "metrics": result.metrics,
                    "tables": result.tables,
                    "seconds": seconds,
                },
            )
            records.append(StageRecord(name, "ran", seconds, result.metrics, result.tables))
        barrier()
        if not here.is_zero:
            products.update(read_done(stage_dir)["products"])
        log.info("stage %s: done in %.1f s", name, seconds)
    return records


SETTINGS_FILE = "config.yaml"  # <stage>/config.yaml: the settings a finished stage ran under
_NOT_SETTINGS = ("paths.", "logger_group")  # where the run is, not how it ran (nor `stages`)


def write_settings(stage_dir: Path, config: dict) -> None:
    """Keep the resolved config a stage ran under beside its DONE.json: Hydra rewrites
    `.hydra/config.yaml` on every rerun, this record stays with the stage."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    tmp = stage_dir / (SETTINGS_FILE + ".tmp")
    OmegaConf.save(OmegaConf.create(config), tmp)
    tmp.replace(stage_dir / SETTINGS_FILE)


def warn_settings_changed(stages: dict[str, Stage], run_dir: Path, config: dict, shown: int = 6) -> list[str]:
    """On a rerun, name the settings that differ from those the finished stages ran under (they are
    skipped and kept as they ran; their record, `<stage>/config.yaml`, is never rewritten).
    Returns the differing keys."""
    now = flatten(config)
    changed: dict[str, tuple[str, list[str]]] = {}
    stale = []
    for name in stages:
        record = run_dir / name / SETTINGS_FILE
        if read_done(run_dir / name) is None or not record.is_file():
            continue
        try:
            before = flatten(OmegaConf.to_container(OmegaConf.load(record)))
        except Exception:  # noqa: BLE001 - a damaged record is reported, not fatal
            log.warning("stage %s: its settings record %s is unreadable", name, record)
            continue
        keys = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        keys = [k for k in keys if k != "stages" and not k.startswith(_NOT_SETTINGS)]
        if keys:
            stale.append(name)
            for key in keys:
                changed.setdefault(key, (before.get(key, "<unset>"), []))[1].append(name)
    if changed:
        listed = ", ".join(
            f"{k} (was {v[0]!r}, now {now.get(k, '<unset>')!r})" for k, v in list(changed.items())[:shown]
        )
        more = f" and {len(changed) - shown} more" if len(changed) > shown else ""
        log.warning(
            "finished stage(s) %s ran under other settings and are kept as they ran (their settings: %s): "
            "%s%s; delete a stage's DONE.json to run it again with these",
            ", ".join(stale),
            ", ".join(f"{n}/{SETTINGS_FILE}" for n in stale),
            listed,
            more,
        )
    return list(changed)


def _start_ranks(cfg: DictConfig, run_dir: Path) -> tuple[World, list]:
    """Every process of the run joins the process group; a one-node multi-process run not
    started by a cluster starts its other ranks here (`vrl.distributed`). Returns this
    process's `World` and the child processes it started."""
    settings = build("trainer", cfg.get("trainer")) if cfg.get("trainer") else None
    wanted = settings.processes if isinstance(settings, TrainerSettings) else 1
    here = world()
    children = []
    if here.size == 1 and wanted > 1:
        if settings.num_nodes > 1:
            raise ConfigError(
                f"trainer.num_nodes={settings.num_nodes} needs a cluster to start the processes: use "
                "hydra/launcher=slurm_gpu_multinode (or torchrun), or trainer.num_nodes=1"
            )
        children = spawn_local_ranks(wanted, _rank_command(cfg, run_dir), cwd=_original_cwd())
        here = world()
    elif here.size != wanted:
        raise ConfigError(
            f"{here.launcher} started {here.size} processes but the trainer trains with {wanted} "
            f"(trainer.devices={settings.devices if settings else None} x trainer.num_nodes="
            f"{settings.num_nodes if settings else None}): make them equal, e.g. "
            f"hydra.launcher.tasks_per_node=<devices> or trainer.devices={here.size}"
        )
    init_process_group(settings.accelerator if settings else "cpu")
    return here, children


def _rank_command(cfg: DictConfig, run_dir: Path) -> list[str]:
    """`python -m vrl` with this job's overrides, into this run dir, as one run (also for a job
    of a sweep), with its own job log and no `.hydra` writes."""
    overrides: list[str] = []
    name = "vrl"
    try:
        hydra_cfg = HydraConfig.get()
        overrides = list(hydra_cfg.overrides.task)
        name = hydra_cfg.job.name
        skip = (
            "hydra.run",
            "hydra.sweep",
            "hydra.mode",
            "hydra.launcher",
            "hydra/launcher",
            "hydra.sweeper",
            "hydra/sweeper",
            "hydra.job.name",
            "hydra.output_subdir",
        )
        overrides += [o for o in hydra_cfg.overrides.hydra if not o.lstrip("+~").startswith(skip)]
    except ValueError:
        pass
    return [
        sys.executable,
        "-m",
        "vrl",
        *overrides,
        f"hydra.run.dir={run_dir}",
        "hydra.mode=RUN",
        "hydra.output_subdir=null",
        f"hydra.job.name={name}-rank{{rank}}",
    ]


def _original_cwd() -> str | None:
    from hydra.utils import get_original_cwd

    try:
        return get_original_cwd()
    except ValueError:
        return None


def _wandb_group(cfg: DictConfig, run_dir: Path) -> str:
    """Runs of one sweep share a W&B group (named after the sweep dir); a single run's stages
    form their own group, named after its run dir (the run name alone put unrelated runs of
    one experiment in one group)."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        hydra_cfg = None
    if hydra_cfg is not None and hydra_cfg.mode is not None and hydra_cfg.mode.name == "MULTIRUN":
        return f"{cfg.name}-sweep-{Path(hydra_cfg.sweep.dir).name}"
    return f"{cfg.name}-{run_dir.name}"
