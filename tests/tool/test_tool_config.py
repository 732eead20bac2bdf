"""The `tool` group: it configures the rollout's tool loop (`rollout.tool_loop`), and the
rollout engine gets the run's sandbox by naming it; no other component is involved."""

from __future__ import annotations

import pytest
from vrl_testing import compose

from vrl.components import build_components
from vrl.config_check import check_targets
from vrl.errors import ConfigError
from vrl.rollout import HFRolloutEngine, ToolLoop
from vrl.tool import CodeTool, ZoomTool


def test_no_tool_by_default():
    cfg = compose()
    assert cfg.rollout.tool_loop is None
    components = build_components(cfg)
    assert isinstance(components.rollout, HFRolloutEngine) and components.rollout.tool_loop is None


def test_zoom_is_the_engines_tool_loop(caplog):
    cfg = compose(["tool=zoom", "rollout.tool_loop.max_turns=3", "rollout.sampling.max_new_tokens=16"])
    check_targets(cfg)
    components = build_components(cfg)
    engine = components.rollout
    assert isinstance(engine, HFRolloutEngine) and isinstance(engine.tool_loop, ToolLoop)
    assert isinstance(engine.tool_loop.tool, ZoomTool)
    assert engine.tool_loop.max_turns == 3 and engine.sampling.max_new_tokens == 16


def test_code_tool_gets_the_run_sandbox_and_refuses_to_run_without_one(caplog):
    cfg = compose(["tool=code", "sandbox=local", "sandbox.workers=1", "rollout.tool_loop.ats=true"])
    with caplog.at_level("INFO", logger="vrl"):
        components = build_components(cfg)
    with components.closing():
        assert isinstance(components.rollout.tool_loop.tool, CodeTool)
        assert components.rollout.sandbox is components.sandbox
        assert components.rollout.tool_loop.ats
        assert "vrl.rollout.fast.FastRolloutEngine (with sandbox)" in caplog.text  # the default engine
    with pytest.raises(ConfigError, match="needs a sandbox"):
        build_components(compose(["tool=code"]))
