"""`stream_weights` of a bf16 model `fully_shard`ed on CUDA (NCCL): every tensor arrives on the
GPU, in bf16, bit for bit; at most one parameter is gathered at a time (gpu lane)."""

from __future__ import annotations

import pytest
import torch
from test_weight_stream_on_cpu import run_ranks

from vrl.model import TinyQwen25VL

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_a_bf16_fsdp2_model_on_cuda_streams_bit_for_bit(tiny_dir, tmp_path):
    size = min(2, torch.cuda.device_count())  # NCCL wants one GPU per rank
    run_ranks(tiny_dir, tmp_path, size=size, device="cuda")
    reference = TinyQwen25VL(dtype="bfloat16").load(str(tiny_dir)).model.state_dict()
    rank0 = torch.load(tmp_path / "rank0.pt")
    assert rank0["devices"] == ["cuda:0"] and rank0["dtypes"] == ["torch.bfloat16"]
    assert list(rank0["received"]) == list(reference)
    for name, tensor in reference.items():
        assert torch.equal(rank0["received"][name], tensor), name
    sizes = [t.numel() for t in reference.values()]
    assert rank0["peak_dropping"] == max(sizes)
