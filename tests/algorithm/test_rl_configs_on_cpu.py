"""Every option of conf/{algorithm,reward,replay,rethink}: keys match the target's signature,
it instantiates, and the built object works on a tiny input."""

import inspect
from pathlib import Path

import pytest
import torch
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig
from vrl_testing import option_node

from vrl.algorithm import Algorithm
from vrl.replay import FilterReplay, NoReplay, SelectiveSampleReplay
from vrl.rethink import ForcedRethink, NoRethink
from vrl.reward import RewardPool

CONF = Path(__file__).resolve().parents[2] / "vrl" / "conf"
OPTIONS = sorted(
    (group, path.stem)
    for group in ("algorithm", "reward", "replay", "rethink")
    for path in (CONF / group).glob("*.yaml")
)


def _check_keys(node, where):
    """Every `_target_` node names only parameters of its target; non-partial nodes give all required ones."""
    if isinstance(node, ListConfig):
        for i, item in enumerate(node):
            _check_keys(item, f"{where}[{i}]")
        return
    if not isinstance(node, DictConfig):
        return
    if "_target_" in node:
        params = inspect.signature(get_object(node._target_)).parameters
        named = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        keys = {k for k in node if not str(k).startswith("_")}
        assert keys <= named, f"{where}: {sorted(keys - named)} are not parameters of {node._target_}"
        if not node.get("_partial_", False):
            required = {n for n in named if params[n].default is inspect.Parameter.empty}
            assert required <= keys, f"{where}: {node._target_} needs {sorted(required - keys)}"
    for key in node:
        _check_keys(node[key], f"{where}.{key}")


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}/{o}" for g, o in OPTIONS])
def test_option_keys_match_signature_and_instantiate(group, option):
    cfg = option_node(group, option)
    if group in ("algorithm", "reward") and option == "none":
        assert not cfg  # empty on purpose: the stage reads a falsy node as "off"
        return
    _check_keys(cfg, f"{group}/{option}")
    expected = {"algorithm": Algorithm, "reward": RewardPool}.get(group)
    obj = instantiate(cfg)
    if expected is not None:
        assert isinstance(obj, expected)
    else:
        assert isinstance(obj, (NoReplay, FilterReplay, SelectiveSampleReplay, NoRethink, ForcedRethink))


def test_the_paper_options_carry_the_paper_values():
    algo = instantiate(option_node("algorithm", "dr_grpo"))
    assert algo.advantage(torch.tensor([1.0, 0.0]), 2).tolist() == [0.5, -0.5]
    assert algo.policy_loss.keywords == {"eps_low": 0.2, "eps_high": 0.35}
    assert (algo.kl_estimator, algo.entropy_coef, algo.aux_nll_coef) == (None, 0.0, 0.05)

    pool = instantiate(option_node("reward", "vlrethinker"), pool={"num_workers": 0})
    fields = dict(answer=["2"], answer_type=["integer"], finished=[True], forced=[False])
    out = pool([r"Wait, yes. \boxed{2}"], **fields)
    assert out.total == [pytest.approx(1.1)] and out.rewards["accuracy"] == [1.0]  # accuracy logged, weight 0

    ssr = instantiate(option_node("replay", "ssr"))
    assert (ssr.alpha, ssr.eps, ssr.capacity) == (1.0, 1e-4, None)
    assert (ssr.pos_ratio, ssr.output_fraction) == (0.1, 0.5)

    forced = instantiate(option_node("rethink", "forced"))
    assert forced.generic_triggers == ("\n\nWait", "\n\nWait, does it seem right?")
    assert (forced.skip_prob, forced.sampling, forced.max_per_group, forced.max_cues) == (
        0.35,
        {"temperature": 0.9},
        2,
        4,
    )
    assert forced.cut_markers == ("last:Wait", "last:\\boxed", "first:answer")


def test_options_compose_in_the_primary_config():
    from vrl_testing import compose

    cfg = compose(["algorithm=dr_grpo", "reward=vlrethinker", "replay=ssr", "rethink=forced"])
    off = compose(["algorithm=none", "reward=none", "replay=none", "rethink=none"])
    assert isinstance(instantiate(cfg.algorithm), Algorithm)
    assert isinstance(instantiate(cfg.reward), RewardPool)
    assert isinstance(instantiate(cfg.replay), SelectiveSampleReplay)
    assert isinstance(instantiate(cfg.rethink), ForcedRethink)
    assert not off.algorithm and not off.reward
    assert isinstance(instantiate(off.replay), NoReplay) and isinstance(instantiate(off.rethink), NoRethink)
