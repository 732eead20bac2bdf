"""`run(cfg)`: the whole study. Check config -> build components -> pre-flight -> run stages -> summarise.

Stages run in the order of `cfg.stages`; each one's products (paths) feed the next. A stage
whose `<run_dir>/<stage>/DONE.json` exists is skipped, so re-running a run directory resumes
it (`python -m vrl hydra.run.dir=<run_dir>`); stages that checkpoint (SFT, RL) resume inside.
The components are closed when the run ends, however it ends (`Components.closing`).
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

from vrl.components import build, build_components
from vrl.config_check import check_run_keys, check_targets
from vrl.errors import ConfigError
from vrl.report import StageRecord, write_summary
from vrl.stages import Stage, stage_for
from vrl.stages.base import StageContext, check_done_products, read_done, write_done
from vrl.stages.preflight import (
    check_given_products,
    check_model_environment,
    check_model_source,
    check_run_dir,
)

log = logging.getLogger("vrl")
current_run_dir: Path | None = None  # the run directory of the run in progress (for messages)


def run(cfg: DictConfig) -> float | None:
    """Run every stage of the study; return `cfg.objective` (a sweeper's target) if it was measured."""
    global current_run_dir
    run_dir = Path(cfg.paths.run_dir).resolve()
    current_run_dir = run_dir
    check_run_dir(run_dir)
    check_run_keys(cfg)  # seed, name, tags, stages, ...; no key that nothing reads
    stage_names = list(cfg.stages)
    checked = check_targets(cfg)
    log.info("run %s in %s; %d config nodes checked; stages: %s", cfg.name, run_dir, checked, stage_names)

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["logger_group"] = _wandb_group(cfg)
    stages = {name: stage_for(name, build(f"stage.{name}", cfg.stage[name])) for name in stage_names}
    components = build_components(cfg)
    with components.closing():
        if components.logger is not None:
            components.logger.group = components.logger.group or resolved["logger_group"]
            components.logger.tags = [*components.logger.tags, *(cfg.get("tags") or [])]
            components.logger.run_name = cfg.name
        given = {k: str(v) for k, v in (cfg.get("products") or {}).items() if v}

        def context(name: str) -> StageContext:
            return StageContext(
                name=name, run_dir=run_dir, components=components, config=resolved, seed=cfg.seed
            )

        preflight(stages, given, run_dir, context, declared=(cfg.get("products") or {}).keys())
        warn_settings_changed(stages, run_dir, resolved)
        records = _run_stages(stages, given, run_dir, context)
    write_summary(run_dir, cfg.name, records, command=" ".join(sys.argv))
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
    stages: dict[str, Stage], given: dict[str, str], run_dir: Path, context: Callable[[str], StageContext]
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
        log.info("stage %s: starting", name)
        start = time.perf_counter()
        result = stage.run(context(name), dict(products))
        seconds = time.perf_counter() - start
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
    now = _flat(config)
    changed: dict[str, tuple[str, list[str]]] = {}
    stale = []
    for name in stages:
        record = run_dir / name / SETTINGS_FILE
        if read_done(run_dir / name) is None or not record.is_file():
            continue
        try:
            before = _flat(OmegaConf.to_container(OmegaConf.load(record)))
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


def _flat(tree: object, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        out: dict[str, object] = {}
        for key, value in tree.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def _wandb_group(cfg: DictConfig) -> str:
    """Runs of one sweep share a W&B group (named after the sweep dir); a single run is its own."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return str(cfg.name)
    if hydra_cfg.mode is not None and hydra_cfg.mode.name == "MULTIRUN":
        return f"{cfg.name}-sweep-{Path(hydra_cfg.sweep.dir).name}"
    return str(cfg.name)
