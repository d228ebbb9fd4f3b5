"""Training configs: YAML at the edge, validation, overrides, the shipped configs/."""
from pathlib import Path

import pytest
import yaml

from resshift.data import FaceDegradationConfig, MaskConfig, RealESRGANConfig
from resshift.train import ConfigError, TrainConfig, apply_overrides, load_config, resolve_spec

CONFIGS = Path(__file__).parent.parent / "configs"


def test_load_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"task": "sr", "data_dir": "x", "degradation": {"bicubic_prob": 0.2}}))
    cfg = load_config(path, ["batch_size=8", "degradation.second_order_prob=0.5", "crop_scale=[0.5, 1]",
                             "time_budget_s=30"])
    assert cfg.batch_size == 8 and cfg.time_budget_s == 30
    assert dict(cfg.degradation) == {"bicubic_prob": 0.2, "second_order_prob": 0.5}
    assert cfg.crop_scale == (0.5, 1.0)
    assert cfg.model_name == "lite-sr"
    with pytest.raises(TypeError):
        cfg.degradation["x"] = 1  # frozen all the way down


def test_round_trip_through_a_dict():
    cfg = TrainConfig(task="face", data_dir="faces", unet={"channel_mult": [1, 2]}, crop_mode="resize")
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert yaml.safe_load(yaml.safe_dump(cfg.to_dict()))["unet"] == {"channel_mult": [1, 2]}


@pytest.mark.parametrize("params,message", [
    ({"task": "sr", "data_dir": "x", "batchsize": 4}, "unknown training config keys"),
    ({"task": "sr"}, "needs"),
    ({"task": "denoise", "data_dir": "x"}, "task must be one of"),
    ({"task": "sr", "data_dir": "x", "precision": "int8"}, "precision"),
    ({"task": "sr", "data_dir": "x", "ema_rate": 1.0}, "ema_rate"),
    ({"task": "sr", "data_dir": "x", "time_budget_s": -5}, "time_budget_s"),
    ({"task": "sr", "data_dir": "x", "crop_mode": "tile"}, "crop_mode"),
])
def test_invalid_configs(params, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(params)


def test_override_errors(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["batch_size"])
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_overrides({"seed": 1}, ["seed.x=2"])
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")


def test_model_must_match_the_task():
    with pytest.raises(ValueError, match="is a 'face' model"):
        resolve_spec(TrainConfig(task="sr", data_dir="x", model="lite-face"))
    with pytest.raises(KeyError, match="unknown lite model"):
        resolve_spec(TrainConfig(task="sr", data_dir="x", model="lite-nope"))


@pytest.mark.parametrize("name", ["lite_sr", "lite_inpaint", "lite_face"])
def test_shipped_configs(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    spec = resolve_spec(cfg)
    assert spec.name == name.replace("_", "-") and spec.task == cfg.task
    assert cfg.export_path.endswith(spec.unet_weights.filename)
    assert cfg.time_budget_s and cfg.ckpt_every_s and cfg.val_dir
    degradation = {"sr": RealESRGANConfig, "inpaint": MaskConfig, "face": FaceDegradationConfig}[cfg.task]
    degradation.from_dict(cfg.degradation)  # the overrides are valid fields
    latent = cfg.crop_size // spec.first_stage_params["factor"]  # latent of the full-size image
    unet_multiple = 8 * 2 ** (len(spec.unet_params["channel_mult"]) - 1)
    assert latent % unet_multiple == 0
    assert spec.unet_params["lq_size"] // spec.unet_params["image_size"] == \
        (cfg.crop_size // spec.diffusion.sf) // latent


def test_numbers_written_as_yaml_strings_are_converted():
    cfg = TrainConfig.from_dict(apply_overrides({"task": "sr", "data_dir": "x"}, ["lr=1e-3", "iterations=20"]))
    assert cfg.lr == 1e-3 and isinstance(cfg.lr, float) and cfg.iterations == 20
    with pytest.raises(ConfigError, match="lr must be a number"):
        TrainConfig(task="sr", data_dir="x", lr="fast")
    with pytest.raises(ConfigError, match="iterations must be an integer"):
        TrainConfig(task="sr", data_dir="x", iterations=2.5)


def test_export_goes_with_out_dir_when_it_is_a_bare_name():
    cfg = load_config(CONFIGS / "lite_sr.yaml", ["out_dir=elsewhere/run"])
    assert cfg.export_file == Path("elsewhere/run/resshift_lite_sr.safetensors")
    assert load_config(CONFIGS / "lite_sr.yaml").export_file == Path("runs/lite_sr/resshift_lite_sr.safetensors")
    cfg = load_config(CONFIGS / "lite_sr.yaml", ["out_dir=elsewhere", "export_path=exports/w.safetensors"])
    assert cfg.export_file == Path("exports/w.safetensors")  # a path with a folder is taken as is
    assert load_config(CONFIGS / "lite_sr.yaml", ["export_path=null"]).export_file is None
