"""One rank of tests/rollout/test_weight_stream_on_cpu.py, run as its own process.

    python weight_stream_worker.py MODEL_DIR OUT_DIR [DEVICE]

DEVICE: cpu (gloo, float32; the default) or cuda (NCCL, bf16, one rank per GPU).

Loads the tiny model, `fully_shard`s it over a 2-rank gloo mesh exactly as
`vrl.trainer.FSDP2Strategy` does (decoder layers and vision blocks, then the root), and streams
it with `stream_weights(receive=rank == 0)` three times: through a consumer that keeps its
loop variable (as vLLM's `load_weights` loops do), one that drops each tensor once copied, and
one that keeps them all (a list: the meter's control); then a LoRA copy (seeded, so the same
adapters on every rank), sharded the same way, whose merged weights it streams once.
`DTensor.full_tensor` is wrapped to record the elements of every gathered tensor still alive
(weak references) at each gather, gathered one included: the peak a rank materialises.
Writes `rank<r>.pt`: the sharded state dict's keys, what was received, and those peaks.
"""

from __future__ import annotations

import sys
import weakref
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor

from vrl.model import TinyQwen25VL, apply_lora
from vrl.model.lora import merged_state_dict
from vrl.rollout.weight_stream import stream_weights
from vrl.trainer import shard_model

WRAP = [
    "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl.Qwen2_5_VLDecoderLayer",
    "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl.Qwen2_5_VLVisionBlock",
]


class GatherMeter:
    """Peak elements of gathered (full_tensor) outputs alive at once, during each gather."""

    def __init__(self) -> None:
        self.alive: list[weakref.ref] = []
        self.peak = 0
        self.gathers = 0

    def _alive_numel(self) -> int:
        self.alive = [ref for ref in self.alive if ref() is not None]
        return sum(ref().numel() for ref in self.alive)

    def wrap(self, original):
        def full_tensor(tensor, *args, **kwargs):
            before = self._alive_numel()  # still alive while this one is gathered
            out = original(tensor, *args, **kwargs)
            self.gathers += 1
            self.peak = max(self.peak, before + out.numel())
            self.alive.append(weakref.ref(out))
            return out

        return full_tensor


def main(model_dir: str, out_dir: str, device: str = "cpu") -> None:
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    rank = dist.get_rank()
    if device == "cuda":
        torch.cuda.set_device(rank)
    model = TinyQwen25VL(dtype="bfloat16" if device == "cuda" else "float32").load(model_dir).model.to(device)
    units = shard_model(model, WRAP, init_device_mesh(device, (dist.get_world_size(),)))
    sharded = model.state_dict()
    meter = GatherMeter()
    DTensor.full_tensor = meter.wrap(DTensor.full_tensor)

    received: dict[str, torch.Tensor] = {}
    for name, tensor in stream_weights(model, receive=rank == 0):  # keeps `tensor` until the next
        received[name] = tensor.clone()  # the engine copies into its own layers
    if received:
        del name, tensor  # the loop's last tensor would stay alive through the second pass
    peak_keeping, meter.peak = meter.peak, 0

    count = 0
    for item in stream_weights(model, receive=rank == 0):
        count += 1
        del item  # a consumer that lets each tensor go once copied
    peak_dropping, meter.peak = meter.peak, 0

    # The meter's control: a consumer that keeps every tensor (what a list would do).
    kept = list(stream_weights(model, receive=rank == 0))
    peak_list = meter.peak
    del kept

    gathers = meter.gathers
    # LoRA under FSDP2: the merged weights (same adapters on every rank: seeded init).
    torch.manual_seed(0)
    lora = apply_lora(TinyQwen25VL().load(model_dir).model.to(device), {"r": 4, "target_modules": ["q_proj"]})
    for name, parameter in lora.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter)  # a non-zero delta, so merging shows
    lora_reference = {name: tensor.cpu() for name, tensor in merged_state_dict(lora)[1].items()}
    shard_model(lora, WRAP, init_device_mesh(device, (dist.get_world_size(),)))
    lora_received = {name: t.cpu() for name, t in stream_weights(lora, receive=rank == 0)}

    torch.save(
        {
            "units": units,
            "keys": list(sharded),
            "dtensor_keys": [k for k, v in sharded.items() if isinstance(v, DTensor)],
            "shard_numel": sum(
                v.to_local().numel() if isinstance(v, DTensor) else v.numel() for v in sharded.values()
            ),
            "received": {name: tensor.cpu() for name, tensor in received.items()},
            "devices": sorted({str(tensor.device) for tensor in received.values()}),
            "dtypes": sorted({str(tensor.dtype) for tensor in received.values()}),
            "count_second_pass": count,
            "gathers": gathers,
            "peak_keeping": peak_keeping,
            "peak_dropping": peak_dropping,
            "peak_list": peak_list,
            "lora_reference": lora_reference,
            "lora_received": lora_received,
        },
        Path(out_dir) / f"rank{rank}.pt",
    )
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
