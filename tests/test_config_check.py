"""The target validator on hand-made nodes (the real configs are covered in test_config.py)."""

import pytest
from omegaconf import OmegaConf

from vrl.config_check import check_node, check_targets
from vrl.errors import ConfigError


def node(**values):
    return OmegaConf.create({"_target_": "vrl.sft.settings.SFTSettings", **values})


def test_accepts_valid_keys_and_types():
    check_node("stage.sft", node(max_steps=3, lr=1, val_dataset=None, response_template="{answer}"))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_step": 3}, "'stage.sft.max_step' is not a parameter"),
        ({"max_steps": "3"}, "'stage.sft.max_steps' should be int, got '3'"),
        ({"max_steps": True}, "should be int, got True"),
        ({"lr": "fast"}, "'stage.sft.lr' should be float"),
        ({"val_dataset": 3}, "'stage.sft.val_dataset' should be str or null"),
    ],
)
def test_rejects_with_the_key_named(values, message):
    with pytest.raises(ConfigError, match=message):
        check_node("stage.sft", node(**values))


def test_unimportable_target_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot import 'vrl.nope.Thing'"):
        check_node("model", OmegaConf.create({"_target_": "vrl.nope.Thing"}))


def test_missing_required_argument():
    cfg = OmegaConf.create({"x": {"_target_": "vrl.stages.base.require_product"}})
    with pytest.raises(ConfigError, match="needs products, key, stage"):
        check_targets(cfg)
