"""The `tool` group: composes, and turns the rollout component into the multi-turn loop."""

from __future__ import annotations

import pytest
from vrl_testing import compose

from vrl.components import BUILD_ORDER, build_components
from vrl.config_check import check_targets
from vrl.errors import ConfigError
from vrl.rollout.hf import HFRolloutEngine
from vrl.rollout.multiturn import MultiTurnRollout
from vrl.tool import CodeTool, ZoomTool


def test_tool_is_built_after_the_sandbox_and_none_by_default():
    assert BUILD_ORDER.index("tool") == BUILD_ORDER.index("sandbox") + 1
    cfg = compose()
    assert not cfg.tool
    assert isinstance(build_components(cfg).rollout, HFRolloutEngine)


def test_zoom_wraps_the_configured_engine(caplog):
    cfg = compose(["tool=zoom", "tool.max_turns=3", "rollout.max_new_tokens=16"])
    check_targets(cfg)
    with caplog.at_level("INFO", logger="vrl"):
        components = build_components(cfg)
    loop = components.rollout
    assert isinstance(loop, MultiTurnRollout) and isinstance(loop.engine, HFRolloutEngine)
    assert isinstance(components.tool, ZoomTool) and loop.tool is components.tool
    assert loop.max_turns == 3 and loop.engine.defaults["max_new_tokens"] == 16
    assert "MultiTurnRollout around HFRolloutEngine" in caplog.text


def test_code_tool_gets_the_sandbox_and_refuses_to_run_without_one():
    components = build_components(
        compose(["tool=code", "sandbox=auto", "sandbox.workers=1", "tool.ats=true"])
    )
    try:
        assert isinstance(components.tool, CodeTool) and components.rollout.sandbox is components.sandbox
        assert components.rollout.ats
    finally:
        components.sandbox.close()
    with pytest.raises(ConfigError, match="needs a sandbox"):
        build_components(compose(["tool=code"]))
