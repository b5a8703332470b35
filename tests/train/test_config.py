from __future__ import annotations

import json
from pathlib import Path

import pytest

from livseg.errors import LivsegInputError
from livseg.train.config import TrainConfig


def test_another_arch_on_the_command_line_drops_the_files_arch_args(tmp_path):
    path = tmp_path / "liver.json"
    path.write_text(json.dumps({"arch": "mobileunet", "arch_args": {"width": 1.5},
                                "flip_probability": 0.0}))
    assert TrainConfig.from_file(path).arch_args == {"width": 1.5}
    assert TrainConfig.from_file(path, arch="mobileunet").arch_args == {"width": 1.5}
    unet = TrainConfig.from_file(path, arch="unet")
    assert unet.arch == "unet" and unet.arch_args == {} and unet.flip_probability == 0.0


def test_arch_args_the_network_does_not_take_are_refused():
    with pytest.raises(LivsegInputError, match="width do not apply to unet"):
        TrainConfig(arch="unet", arch_args={"width": 2})
    with pytest.raises(LivsegInputError, match="unknown architecture"):
        TrainConfig(arch="vnet")
    assert TrainConfig(arch="mobileunet", arch_args={"width": 1.5}).arch_args == {"width": 1.5}


def test_a_bad_setting_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"arch": "unet", "arch_args": {"width": 2}}))
    with pytest.raises(LivsegInputError, match=r"bad\.json: arch_args width do not apply"):
        TrainConfig.from_file(path)


def test_intensity_augmentation_ranges_are_checked(tmp_path):
    path = tmp_path / "wide.json"
    path.write_text(json.dumps({"brightness": 0.2, "contrast_range": [0.7, 1.3]}))
    config = TrainConfig.from_file(path)
    assert config.brightness == 0.2 and config.contrast_range == (0.7, 1.3)
    assert config.as_dict()["contrast_range"] == [0.7, 1.3]
    for bad in ({"contrast_range": (1.3, 0.7)}, {"contrast_range": (0.0, 1.0)},
                {"brightness": -0.1}, {"brightness": 1.0}):
        with pytest.raises(LivsegInputError, match="contrast_range|brightness"):
            TrainConfig(**bad)


def test_the_liver_anchor_is_a_tumour_stage_setting():
    assert TrainConfig(stage="tumour", liver_anchor_hu=100.0).liver_anchor_hu == 100.0
    with pytest.raises(LivsegInputError, match="liver_anchor_hu is a tumour-stage setting"):
        TrainConfig(stage="liver", liver_anchor_hu=100.0)


def test_elastic_deformation_size_is_checked():
    assert TrainConfig(elastic=0.03).elastic == 0.03
    for bad_elastic in (-0.01, 0.5):
        with pytest.raises(LivsegInputError, match="elastic must be in"):
            TrainConfig(elastic=bad_elastic)


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "configs").glob("*.json")),
                         ids=lambda p: p.name)
def test_every_shipped_recipe_is_a_valid_config(path):
    config = TrainConfig.from_file(path)
    assert config.stage in ("liver", "tumour") and config.epochs >= 1
    if config.init_from:  # a fine-tune names the file it starts from, inside the project
        assert (path.parents[1] / config.init_from).is_file()
