import numpy as np
import pytest

import hetfx
from hetfx import PriorError
from hetfx.design.build import build_design
from hetfx.families import get_family
from hetfx.priors import (
    Cauchy,
    Exponential,
    HalfNormal,
    HalfStudentT,
    Normal,
    StudentT,
    validate_priors,
)
from hetfx.program.standata import build_stan_input

KEYS = ["alpha", "beta", "a", "lambda", "sigma_theta", "sigma"]


def test_unknown_key_lists_valid_keys():
    with pytest.raises(PriorError) as info:
        validate_priors({"lamda": Normal(0, 1)}, KEYS)
    message = str(info.value)
    assert "Unknown prior key 'lamda'" in message
    assert "alpha, beta, a, lambda, sigma_theta, sigma" in message


def test_bad_values_and_kinds():
    with pytest.raises(PriorError, match="Normal: sigma must be positive"):
        Normal(0, -1)
    with pytest.raises(PriorError, match="StudentT: nu must be positive"):
        StudentT(0, 0, 1)
    with pytest.raises(PriorError, match="Exponential: rate must be finite"):
        Exponential(float("inf"))
    with pytest.raises(PriorError, match="HalfNormal: sigma must be a number"):
        HalfNormal("1")
    with pytest.raises(PriorError, match="'sigma_theta' is a scale parameter"):
        validate_priors({"sigma_theta": Normal(0, 1)}, KEYS)
    with pytest.raises(PriorError, match="'beta' is a location parameter"):
        validate_priors({"beta": HalfNormal(1)}, KEYS)
    with pytest.raises(PriorError, match=r"must be an object from hetfx.priors"):
        validate_priors({"a": 2.5}, KEYS)
    with pytest.raises(PriorError, match="priors must be a dict"):
        validate_priors([Normal()], KEYS)


def test_sigma_is_not_a_bernoulli_key():
    with pytest.raises(
        PriorError, match="valid keys for this model are alpha, beta, a"
    ):
        hetfx.HetModel(
            "y ~ x | t : z", family="bernoulli", priors={"sigma": HalfNormal()}
        )


def test_defaults_are_autoscaled_and_user_priors_used(small_frame):
    small_frame["y"] = small_frame["y"] * 10 + 3
    small_frame["x1"] = small_frame["x1"] * 4
    design = build_design("y ~ x1 + x2 | t : z", small_frame)
    si = build_stan_input(design, get_family("gaussian"))
    table = hetfx.program.prior_data.summary_table(si.priors)
    sd_y = small_frame["y"].std(ddof=0)
    alpha = table[table.parameter == "alpha"].iloc[0]
    assert alpha["location"] == pytest.approx(small_frame["y"].mean())
    assert alpha["scale"] == pytest.approx(2.5 * sd_y)
    beta = table[table.parameter == "beta"].set_index("coefficient")
    assert beta.loc["x1", "scale"] == pytest.approx(
        2.5 * sd_y / small_frame["x1"].std(ddof=0)
    )
    sig = table[table.parameter == "sigma_theta"].iloc[0]
    assert sig["prior"].startswith("half_normal(") and sig["scale"] == pytest.approx(
        sd_y
    )
    assert set(table.parameter) == {
        "alpha",
        "beta",
        "a",
        "lambda",
        "sigma_theta",
        "sigma",
    }

    user = {
        "sigma_theta": HalfStudentT(3, 0.5),
        "lambda": Cauchy(0, 1),
        "sigma": Exponential(2),
    }
    si = build_stan_input(design, get_family("gaussian"), user)
    assert si.data["prior_dist_sigma_theta"] == 2
    np.testing.assert_allclose(si.data["prior_scale_sigma_theta"], [0.5])
    np.testing.assert_allclose(si.data["prior_df_sigma_theta"], [3.0])
    assert si.data["prior_dist_lambda"] == 2 and si.data["prior_df_lambda"][0] == 1.0
    np.testing.assert_allclose(si.data["prior_scale_sigma"], [0.5])
    table = hetfx.program.prior_data.summary_table(si.priors)
    assert table.loc[table.parameter == "sigma_theta", "source"].item() == "user"
    assert (
        table.loc[table.parameter == "sigma_theta", "prior"].item()
        == "half_student_t(3, 0.5)"
    )
