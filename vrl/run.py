"""`run(cfg)`: the whole study. Check config -> build components -> run stages -> summarise.

Stages run in the order of `cfg.stages`; each one's products (paths) feed the next. A stage
whose `<run_dir>/<stage>/DONE.json` exists is skipped, so re-running a run directory resumes
it (`python -m vrl hydra.run.dir=<run_dir>`); stages that checkpoint (SFT, RL) resume inside.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from vrl.components import build_components
from vrl.config_check import check_targets
from vrl.errors import ConfigError
from vrl.report import StageRecord, write_summary
from vrl.stages.base import StageContext, read_done, write_done

log = logging.getLogger("vrl")


def run(cfg: DictConfig) -> float | None:
    """Run every stage of the study; return `cfg.objective` (a sweeper's target) if it was measured."""
    run_dir = Path(cfg.paths.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    stage_names = list(cfg.stages)
    _check_stage_names(cfg, stage_names)
    checked = check_targets(cfg)
    log.info("run %s in %s; %d config nodes checked; stages: %s", cfg.name, run_dir, checked, stage_names)

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["logger_group"] = _wandb_group(cfg)
    components = build_components(cfg)
    if components.logger is not None:
        components.logger.group = components.logger.group or resolved["logger_group"]
        components.logger.tags = list(components.logger.tags or []) + list(cfg.get("tags") or [])
        components.logger.run_name = cfg.name
    stages = {name: _build_stage(name, cfg.stage[name]) for name in stage_names}

    products: dict[str, str] = {k: str(v) for k, v in (cfg.get("products") or {}).items() if v}
    records: list[StageRecord] = []
    for name in stage_names:
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
        context = StageContext(
            name=name, run_dir=run_dir, components=components, config=resolved, seed=cfg.seed
        )
        result = stages[name].run(context, dict(products))
        seconds = time.perf_counter() - start
        products.update(result.products)
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

    write_summary(run_dir, cfg.name, records, command=" ".join(sys.argv))
    objective = cfg.get("objective")
    metrics = {k: v for r in records for k, v in r.metrics.items()}
    return float(metrics[objective]) if objective and objective in metrics else None


def _build_stage(name: str, node: DictConfig) -> Any:
    log.info("build stage.%-16s -> %s", name, node._target_)
    return instantiate(node, _convert_="all")


def _check_stage_names(cfg: DictConfig, stage_names: list[str]) -> None:
    available = sorted((cfg.get("stage") or {}).keys())
    for name in stage_names:
        if name not in available:
            raise ConfigError(
                f"stages lists '{name}' but stage.{name} is not configured (configured: "
                f"{', '.join(available)}); fix: stages=[{','.join(available)}] or add stage@stage.{name}"
            )


def _wandb_group(cfg: DictConfig) -> str:
    """Runs of one sweep share a W&B group (named after the sweep dir); a single run is its own."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return str(cfg.name)
    if hydra_cfg.mode is not None and hydra_cfg.mode.name == "MULTIRUN":
        return f"{cfg.name}-sweep-{Path(hydra_cfg.sweep.dir).name}"
    return str(cfg.name)
