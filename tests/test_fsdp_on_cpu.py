"""`trainer=fsdp_cpu` (FSDP2 over gloo, 2 processes) through the real entry point: the tiny model
built once by rank 0, SFT on sharded weights, the full model gathered one tensor at a time and
exported by rank 0, RL on it (hf rollouts on full weights gathered once per rollout), then
evaluated. (The RL step's numbers on 2 FSDP2 ranks: tests/rl/test_rl_fsdp2_on_cpu.py.)"""

from __future__ import annotations

import pytest
from vrl_testing import REPO, run_vrl

pytestmark = [pytest.mark.slow, pytest.mark.ddp]


def test_fsdp2_on_two_cpu_ranks_trains_exports_and_evaluates(tmp_path):
    import json

    from safetensors.torch import load_file

    run_dir = tmp_path / "run"
    result = run_vrl(["debug=smoke", "trainer=fsdp_cpu", f"hydra.run.dir={run_dir}"], cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr + result.stdout
    (weights,) = (run_dir / "sft" / "model").glob("*.safetensors")
    exported = load_file(str(weights))
    init = load_file(str(next((run_dir / "model_init").glob("tiny_*/*.safetensors"))))
    assert exported.keys() == init.keys(), "every weight exported, under its HF name"
    assert all(exported[k].shape == init[k].shape for k in init), "full tensors, not shards"
    assert any(not (exported[k] == init[k]).all() for k in init), "SFT changed the weights"
    rl = json.loads((run_dir / "rl" / "DONE.json").read_text())["metrics"]
    assert rl["rl/steps"] == 2, rl  # debug=smoke's two RL steps, on both ranks
    assert (run_dir / "rl" / "model").is_dir(), "the RL policy exported by rank 0"
    assert (run_dir / "eval" / "DONE.json").is_file()


def test_a_bad_setting_found_after_the_ranks_started_is_one_line_from_rank_zero(tmp_path):
    # (precision is checked at the pre-flight, which every rank runs)
    args = ["debug=smoke", "stages=[data,sft]", "trainer=ddp_cpu", "trainer.precision=16-mixed"]
    result = run_vrl([*args, f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in output.splitlines() if "vrl: error:" in line]
    assert len(errors) == 1 and "trainer.precision=16-mixed" in errors[0], errors
