"""A finished stage's record (DONE.json): products relative to the run directory, so a copied or
moved run directory uses its own products; a damaged record is one line, not a traceback."""

from __future__ import annotations

import json
import shutil

import pytest

from vrl.errors import ConfigError, MissingFileError
from vrl.stages.base import check_done_products, read_done, write_done


def _finish(run_dir, outside):
    (run_dir / "data" / "train").mkdir(parents=True)
    write_done(
        run_dir / "data",
        {"products": {"train_data": str(run_dir / "data" / "train"), "pools": str(outside)}, "metrics": {}},
    )


def test_products_inside_the_run_dir_are_written_relative_and_read_back_here(tmp_path):
    outside = tmp_path / "shared_pools"
    outside.mkdir()
    _finish(tmp_path / "original", outside)
    record = json.loads((tmp_path / "original" / "data" / "DONE.json").read_text())
    assert record["products"] == {"train_data": "data/train", "pools": str(outside)}

    shutil.copytree(tmp_path / "original", tmp_path / "copy")
    done = read_done(tmp_path / "copy" / "data")
    assert done["products"]["train_data"] == str((tmp_path / "copy" / "data" / "train").resolve())
    assert done["products"]["pools"] == str(outside), "a product outside the run dir stays where it is"


def test_an_old_absolute_record_in_a_copied_run_dir_points_into_the_copy(tmp_path):
    (tmp_path / "original" / "sft" / "model").mkdir(parents=True)
    shutil.copytree(tmp_path / "original", tmp_path / "copy")
    old = {"products": {"model": str(tmp_path / "original" / "sft" / "model")}, "metrics": {}}
    (tmp_path / "copy" / "sft" / "DONE.json").write_text(json.dumps(old))
    done = read_done(tmp_path / "copy" / "sft")
    assert done["products"]["model"] == str((tmp_path / "copy" / "sft" / "model").resolve())


def test_a_damaged_record_or_a_lost_product_is_one_line(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "DONE.json").write_text('{"products": {"train_da')
    with pytest.raises(
        ConfigError, match=r"DONE.json is unreadable .* delete that file to run the stage again"
    ):
        read_done(tmp_path / "data")
    (tmp_path / "data" / "DONE.json").write_text(json.dumps({"products": {"train_data": "data/train"}}))
    with pytest.raises(MissingFileError, match="its product train_data=.* is gone"):
        check_done_products("data", read_done(tmp_path / "data"), tmp_path)


def test_a_rerun_with_other_settings_keeps_and_names_the_settings_finished_stages_ran_under(tmp_path, caplog):
    from vrl.run import warn_settings_changed, write_settings

    ran = {"seed": 0, "stage": {"sft": {"lr": 1e-5}, "rl": {"max_steps": 2}}, "paths": {"run_dir": "a"}}
    write_settings(tmp_path / "sft", ran)
    write_done(tmp_path / "sft", {"products": {}, "metrics": {}})
    write_settings(tmp_path / "rl", ran)  # rl never finished: not a record of anything
    stages = {"sft": None, "rl": None}
    moved = {**ran, "paths": {"run_dir": "b"}, "stages": ["sft", "rl"]}
    assert warn_settings_changed(stages, tmp_path, moved) == [], "where the run is, is not a setting"

    now = {**ran, "stage": {"sft": {"lr": 2e-5}, "rl": {"max_steps": 9}}, "tags": ["x"]}
    with caplog.at_level("WARNING", logger="vrl"):
        changed = warn_settings_changed(stages, tmp_path, now)
    assert changed == ["stage.rl.max_steps", "stage.sft.lr", "tags"]
    (line,) = [r.getMessage() for r in caplog.records if "other settings" in r.getMessage()]
    assert (
        "finished stage(s) sft" in line
        and "sft/config.yaml" in line
        and "stage.sft.lr (was 1e-05, now 2e-05)" in line
    )
    from omegaconf import OmegaConf

    assert OmegaConf.load(tmp_path / "sft" / "config.yaml").stage.sft.lr == 1e-5, "the record is kept"
