"""Weight sync without the full state dict: `vrl.rollout.weight_stream` on a plain model, a
LoRA model, and a tiny Qwen2.5-VL `fully_shard`ed over 2 gloo processes (torch's FSDP2 on CPU),
and `VLLMRolloutEngine.sync_weights` handing vLLM a generator (a stand-in `LLM`, no vllm)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from vrl_testing import REPO

from vrl.model import TinyQwen25VL, apply_lora
from vrl.rollout.weight_stream import hf_name, stream_weights

WORKER = Path(__file__).with_name("weight_stream_worker.py")


def test_a_plain_model_streams_its_state_dict_itself_without_copies(tiny):
    model = tiny.model
    streamed = list(stream_weights(model))
    state = model.state_dict()
    assert [name for name, _ in streamed] == list(state)
    assert all(tensor.data_ptr() == state[name].data_ptr() for name, tensor in streamed)
    assert list(stream_weights(model, receive=False)) == []


def test_a_lora_model_streams_its_merged_weights_under_hf_names(tiny):
    model = apply_lora(tiny.model, {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]})
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter)  # a non-zero delta, so merging shows
    streamed = dict(stream_weights(model))
    base = model.get_base_model()
    assert not any("lora_" in name or "base_layer" in name for name in streamed)
    assert set(streamed) == {k.replace(".base_layer.", ".") for k in base.state_dict() if ".lora_" not in k}
    assert list(stream_weights(model, receive=False)) == []
    q_proj = next(n for n in streamed if n.endswith("q_proj.weight"))
    assert not torch.equal(
        streamed[q_proj], base.state_dict()[q_proj.replace(".weight", ".base_layer.weight")]
    )


def test_hf_name_strips_the_wrappers_prefixes():
    assert hf_name("model._orig_mod.layers.0._checkpoint_wrapped_module.mlp.up_proj.weight") == (
        "model.layers.0.mlp.up_proj.weight"
    )
    assert (
        hf_name("_fsdp_wrapped_module.model.visual.blocks.0.attn.qkv.bias")
        == "model.visual.blocks.0.attn.qkv.bias"
    )
    assert hf_name("lm_head.weight") == "lm_head.weight"


def run_ranks(
    model_dir: Path, out_dir: Path, size: int = 2, device: str = "cpu", timeout: float = 300
) -> None:
    """The worker on `size` local ranks over `device` (gloo on CPU, NCCL on CUDA)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "MASTER_ADDR": "127.0.0.1"}
    env.update(MASTER_PORT=str(port), WORLD_SIZE=str(size), OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(model_dir), str(out_dir), device],
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(size)
    ]
    outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    for rank, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{output[-4000:]}"


@pytest.mark.ddp
def test_fsdp2_sharded_model_streams_to_the_engine_rank_one_parameter_at_a_time(tiny_dir, tmp_path):
    run_ranks(tiny_dir, tmp_path)
    reference = TinyQwen25VL().load(str(tiny_dir)).model.state_dict()
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))

    # fully_shard keeps the state-dict keys (no FSDP1-style `_fsdp_wrapped_module.`), and
    # every entry is sharded: 2 decoder layers + 2 vision blocks + the root = 5 units.
    assert rank0["units"] == 5
    assert rank0["keys"] == list(reference)
    assert rank0["dtensor_keys"] == list(reference)
    total = sum(t.numel() for t in reference.values())
    assert rank0["shard_numel"] < 0.6 * total  # each rank holds about half

    # Rank 0 (the engine's) receives every tensor, bit for bit; rank 1 takes part, receives nothing.
    received = rank0["received"]
    assert list(received) == list(reference)
    for name, tensor in reference.items():
        assert received[name].dtype == tensor.dtype and torch.equal(received[name], tensor), name
    assert rank1["received"] == {} and rank1["count_second_pass"] == 0
    assert rank0["count_second_pass"] == len(reference)
    assert rank0["gathers"] == rank1["gathers"] == 3 * len(reference)  # every pass, in step

    # Peak of gathered tensors alive at once (measured): one parameter when the consumer drops
    # each; at most the pair being handed over when it keeps its loop variable; never the model.
    sizes = [t.numel() for t in reference.values()]
    pairs = max(a + b for a, b in zip(sizes, sizes[1:]))
    for ranked in (rank0, rank1):
        assert ranked["peak_dropping"] == max(sizes)
        assert max(sizes) <= ranked["peak_keeping"] <= pairs < total / 4
    assert rank1["peak_keeping"] == max(sizes)  # a non-engine rank drops each at once
    assert rank0["peak_list"] == total and rank1["peak_list"] == max(sizes)  # the meter sees a list

    # LoRA under FSDP2: the merge runs on shards; rank 0 gets the unsharded merge, bit for bit.
    merged, got = rank0["lora_reference"], rank0["lora_received"]
    assert list(got) == list(merged) and rank1["lora_received"] == {}
    assert all(torch.equal(got[name], merged[name]) for name in merged)


class _FakeLLM:
    """The calls `sync_weights` makes on a `vllm.LLM`; records what `reload_weights` got."""

    def __init__(self) -> None:
        self.llm_engine = types.SimpleNamespace(reset_encoder_cache=lambda: None)
        self.got: list = []

    def collective_rpc(self, method: str, kwargs: dict) -> None:
        assert method == "reload_weights" and kwargs["is_checkpoint_format"]
        self.iterator_type = type(kwargs["weights_iterator"])
        self.got = [name for name, _ in kwargs["weights_iterator"]]  # consumed as vLLM would

    def reset_prefix_cache(self) -> None: ...

    def reset_mm_cache(self) -> None: ...


def test_vllm_sync_weights_hands_reload_weights_an_iterator_not_a_list(tiny, monkeypatch):
    from vrl.rollout.vllm import VLLMRolloutEngine

    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    engine = VLLMRolloutEngine()
    engine.llm = _FakeLLM()
    sent = engine.sync_weights(tiny.model)
    assert engine.llm.iterator_type is not list
    assert engine.llm.got == list(tiny.model.state_dict())
    assert sent == len(engine.llm.got)
