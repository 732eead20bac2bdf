"""Stage settings: every default once, in its typed settings object.

Stages and training modules take the settings whole (no constructor of theirs has a default to
drift from it); every field is documented; the composed config carries exactly the typed
defaults under the YAML's overrides; bad values are one line naming the key."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from hydra.utils import instantiate
from vrl_testing import compose

from vrl.components import build
from vrl.errors import ConfigError
from vrl.rl.module import RLModule
from vrl.sft.module import SFTModule
from vrl.stages import STAGES, stage_for

SETTINGS = sorted(STAGES, key=lambda t: t.__name__)


@pytest.mark.parametrize("owner", [*STAGES.values(), RLModule, SFTModule], ids=lambda t: t.__name__)
def test_no_stage_or_module_constructor_repeats_a_default(owner):
    params = inspect.signature(owner.__init__).parameters
    defaulted = [name for name, p in params.items() if p.default is not inspect.Parameter.empty]
    assert not defaulted, f"{owner.__name__} has defaults {defaulted}: they belong in its settings"
    assert "settings" in params


@pytest.mark.parametrize("settings_type", SETTINGS, ids=lambda t: t.__name__)
def test_every_field_is_documented_and_frozen(settings_type):
    doc = inspect.getdoc(settings_type) or ""
    undocumented = [f.name for f in dataclasses.fields(settings_type) if f.name not in doc]
    assert not undocumented, f"{settings_type.__name__}: document {undocumented}"
    assert settings_type.__dataclass_params__.frozen


@pytest.mark.parametrize("kind", ["data", "flywheel", "sft", "rl", "eval"])
def test_composed_stage_equals_the_typed_defaults_without_the_embedded_scale(kind):
    cfg = compose(["scale=none"])
    settings = instantiate(cfg.stage[kind])
    assert settings == type(settings)()
    assert type(stage_for(kind, settings)) is STAGES[type(settings)]


def test_the_embedded_default_overrides_only_what_its_tiny_model_needs():
    tiny = instantiate(compose().stage.rl)
    typed = type(tiny)()
    changed = {f.name for f in dataclasses.fields(tiny) if getattr(tiny, f.name) != getattr(typed, f.name)}
    assert changed == {"prompts_per_step", "max_steps", "lr", "micro_batch_size", "save_every_n_steps"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("stage.rl.max_steps=0", "stage.rl.max_steps=0 must be >= 1"),
        ("stage.rl.lr=-1", "stage.rl.lr=-1 must be > 0"),
        ("stage.rl.group_size=1", "stage.rl.group_size=1 must be >= 2"),
        ("stage.rl.prompts_per_step=0", "stage.rl.prompts_per_step=0 must be >= 1"),
        ("stage.sft.max_steps=0", "stage.sft.max_steps=0 must be >= 1, or -1 with max_epochs"),
        ("stage.sft.batch_size=0", "stage.sft.batch_size=0 must be >= 1"),
        ("stage.sft.lr=0", "stage.sft.lr=0 must be > 0"),
        ("stage.sft.max_length=1", "stage.sft.max_length=1 must be >= 2"),
        ("stage.sft.accumulate_grad_batches=0", "stage.sft.accumulate_grad_batches=0 must be >= 1"),
        ("stage.sft.val_every_n_steps=0", "stage.sft.val_every_n_steps=0 must be >= 1"),
        ("stage.eval.limit=0", "stage.eval.limit=0 must be >= 1"),
        ("stage.eval.sampling.temperature=-1", "stage.eval.sampling.temperature=-1 must be >= 0"),
        ("stage.data.val_size=0", "stage.data.val_size=0 must be >= 1"),
        ("stage.flywheel.rounds=0", "stage.flywheel.rounds=0 must be >= 1"),
    ],
)
def test_bad_settings_are_one_line_naming_the_key(override, message):
    cfg = compose([override])
    kind = override.split(".")[1]
    with pytest.raises(ConfigError) as error:
        build(f"stage.{kind}", cfg.stage[kind])
    assert str(error.value).startswith(message), str(error.value)
