"""Helpers stages share: which model to load, and the text corpus a locally-built tokenizer learns."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vrl.data.schema import Sample
from vrl.distributed import rank_zero_first
from vrl.errors import ConfigError
from vrl.stages.base import StageContext

log = logging.getLogger("vrl")

CORPUS_LIMIT = 20_000  # texts; plenty for a 512-token BPE, bounded for huge datasets


def load_model(context: StageContext, products: dict[str, str], extra_texts: list[str] = ()) -> Any:
    """The `model` product if an earlier stage made one, else the configured model (built if tiny)."""
    spec = context.components.model
    if spec is None:
        raise ConfigError("no model configured: pick one, e.g. model=tiny_qwen2_5_vl")
    if products.get("model"):
        from vrl.model.pretrained import check_model_path

        path = check_model_path(products["model"], key="products.model")
    else:
        corpus_texts = itertools.islice(corpus(context, products, extra_texts), CORPUS_LIMIT)
        # Rank 0 builds (a rank > 0's `save_pretrained` writes no weights under torch.distributed:
        # two ranks racing once put rank 1's weightless build in place); the others reuse it.
        with rank_zero_first():
            path = spec.resolve(context.run_dir / "model_init", corpus_texts)
    log.info("stage %s: loading model from %s", context.name, path)
    return spec.load(str(path))


def corpus(context: StageContext, products: dict[str, str], extra_texts: list[str] = ()) -> Iterator[str]:
    """Texts the run will show the model: generator templates, training prompts and answers, benchmark prompts."""
    yield from extra_texts
    for source in context.components.data.values():
        yield from source.corpus()
    if products.get("train_data"):
        from datasets import load_from_disk

        dataset = load_from_disk(products["train_data"])
        for row in dataset.select_columns(["prompt", "answer", "choices"]):
            yield from (m["content"] for m in row["prompt"])
            yield row["answer"]
            yield from row["choices"]
    for benchmark in context.components.benchmark.values():
        for item in itertools.islice(benchmark.load(), 500):
            if isinstance(item, Sample):
                yield from (m["content"] for m in item.prompt)
                yield item.answer


def export_model(trainer: Any, model: Any, processor: Any, out_dir: Path) -> Path:
    """Write the trained model as an HF directory (the `model` product) and return its path.

    Under FSDP/DeepSpeed the full state is gathered first (a collective: every rank calls this);
    only rank 0 writes. Under FSDP2 (DTensor parameters) it is gathered one tensor at a time
    onto rank 0 (`vrl.rollout.weight_stream`; LoRA: the merged weights).
    """
    from lightning.pytorch.strategies import DeepSpeedStrategy, FSDPStrategy

    from vrl.model import save_vlm
    from vrl.model.lora import is_peft_model
    from vrl.rollout.weight_stream import is_sharded, stream_weights

    gathered = None
    if isinstance(trainer.strategy, (FSDPStrategy, DeepSpeedStrategy)):
        state = trainer.strategy.lightning_module_state_dict()
        gathered = {key.removeprefix("model."): value for key, value in state.items()}
    elif any(is_sharded(p) for p in model.parameters()):
        gathered = {name: t.cpu() for name, t in stream_weights(model, receive=trainer.is_global_zero)}
        model = model.get_base_model() if is_peft_model(model) else model  # the gathered weights are merged
    if trainer.is_global_zero:
        save_vlm(model, processor, out_dir, state_dict=gathered)
    return out_dir
