"""The exponential eta schedule and respacing match the official numbers."""
import json

import numpy as np
import pytest

from resshift.diffusion import DiffusionConfig, Schedule, exponential_sqrt_etas, respace

from tests.helpers import FIXTURES

SCHEDULES = json.loads((FIXTURES / "schedules.json").read_text())


@pytest.mark.parametrize("entry", SCHEDULES["schedules"], ids=lambda e: f"T{e['steps']}-k{e['kappa']}")
def test_schedule_matches_official(entry):
    cfg = DiffusionConfig(steps=entry["steps"], kappa=entry["kappa"], min_noise_level=entry["min_noise_level"],
                          etas_end=entry["etas_end"], power=entry["power"])
    s = Schedule.create(cfg)
    for key in ("sqrt_etas", "posterior_variance", "posterior_mean_coef1", "posterior_mean_coef2"):
        np.testing.assert_allclose(getattr(s, key), entry[key], rtol=0, atol=1e-9)


@pytest.mark.parametrize("entry", SCHEDULES["respacing"], ids=lambda e: f"{e['steps']}to{e['respaced_to']}")
def test_leading_respacing_matches_official(entry):
    assert list(respace(entry["steps"], entry["respaced_to"], "leading")) == entry["timestep_map"]
    base = exponential_sqrt_etas(entry["steps"], 2.0, 0.04, 0.99, 0.3)
    np.testing.assert_allclose(base[entry["timestep_map"]], entry["sqrt_etas"], rtol=0, atol=1e-9)


def test_trailing_keeps_last_step_and_one_step_works():
    for T in (4, 15, 1000):
        for n in range(1, min(T, 20) + 1):
            steps = respace(T, n, "trailing")
            assert len(steps) == n and steps[-1] == T - 1 and list(steps) == sorted(set(steps))
    assert respace(15, 4, "trailing") == (3, 7, 10, 14)
    assert respace(4, 1, "trailing") == (3,)
    assert respace(4, 1, "leading") == (0,)
    assert respace(4, 4, "trailing") == respace(4, 4, "leading") == (0, 1, 2, 3)


def test_respaced_posterior_of_subsequence():
    cfg = DiffusionConfig(steps=15, kappa=2.0, min_noise_level=0.04)
    s = Schedule.create(cfg, steps=4, spacing="leading")
    assert s.timesteps == (0, 3, 7, 11)
    etas = s.sqrt_etas ** 2
    prev = np.append(0.0, etas[:-1])
    np.testing.assert_allclose(s.posterior_variance, 4.0 * prev / etas * (etas - prev))
    np.testing.assert_allclose(s.posterior_mean_coef1 + s.posterior_mean_coef2, 1.0)


def test_one_step_schedule_has_no_posterior_noise():
    s = Schedule.create(DiffusionConfig(), steps=1)
    assert s.timesteps == (3,)
    assert s.posterior_variance.tolist() == [0.0]
    assert s.posterior_mean_coef2.tolist() == [1.0]


def test_kappa_override_rebuilds_schedule():
    cfg = DiffusionConfig()
    s = Schedule.create(cfg, kappa=1.0)
    np.testing.assert_allclose(s.sqrt_etas, exponential_sqrt_etas(4, 1.0, 0.2, 0.99, 0.3))
    assert s.kappa == 1.0


@pytest.mark.parametrize("bad", [dict(steps=0), dict(kappa=0), dict(predict_type="epsilon"), dict(sf=0)])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        DiffusionConfig(**bad)


def test_refuses_other_predict_types_from_official_yaml():
    with pytest.raises(ValueError, match="xstart"):
        DiffusionConfig.from_official({"steps": 4, "kappa": 2, "min_noise_level": 0.2, "predict_type": "residual"})


def test_steps_out_of_range():
    with pytest.raises(ValueError, match="1..4"):
        Schedule.create(DiffusionConfig(), steps=5)
