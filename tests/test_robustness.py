"""The sampler at default settings on the designs users run: no divergences,
R-hat at most 1.01 (benchmarks/robustness.py prints the same over more seeds)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import hetfx
from hetfx.datasets import ROBUSTNESS_DESIGNS, robustness_design


def _fit(formula, data, family, **kw):
    model = hetfx.HetModel(formula, family=family, backend="pystan", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(data, seed=1, show_progress=False)


@pytest.mark.sampling
@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("design", ROBUSTNESS_DESIGNS)
def test_default_settings_sample_cleanly(
    design, family, gaussian_model, bernoulli_model
):
    formula, data = robustness_design(design, family, seed=1)
    fit = _fit(formula, data, family)
    diag = fit.diagnostics()
    assert diag["divergences"] == 0, diag
    assert diag["max_rhat"] <= 1.01, diag
    if design == "one_binary":  # 2 groups, 2 coefficients: the interaction model
        assert fit.info["deviations"] == {"treat": False}
        assert "sigma_theta" not in set(fit.modifiers()["parameter"])
        assert (fit.idata.posterior["sigma_theta"].values == 0).all()
        assert "no group deviations (interaction model) for: treat" in fit.summary()
    else:
        assert fit.info["deviations"] == {"treat": True}


def _mixed_groups(seed: int = 0) -> pd.DataFrame:
    """Bernoulli outcomes in 16 groups (z1 x ... x z4): 10 units where the
    modifiers' sum is even, 1,000 where it is odd (size not a linear function of
    the modifiers), with group effects that differ (sd 0.4 on the logit scale)."""
    rng = np.random.default_rng(seed)
    parts = []
    for g in range(16):
        z = [(g >> k) & 1 for k in range(4)]
        size = 10 if sum(z) % 2 == 0 else 1000
        t = np.repeat([0, 1], size // 2)
        effect = 0.3 + 0.2 * z[0] - 0.2 * z[1] + rng.normal(0, 0.4)
        eta = -0.2 + 0.1 * z[2] + t * effect
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
        frame = pd.DataFrame({"y": y, "t": t})
        for k in range(4):
            frame[f"z{k + 1}"] = z[k]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.sampling
def test_small_and_large_groups_in_one_fit(bernoulli_model):
    data = _mixed_groups()
    fit = _fit("y ~ 1 | t : z1 + z2 + z3 + z4", data, "bernoulli")
    assert fit.diagnostics()["divergences"] == 0
    sizes = fit.effects()["n_treated"].to_numpy()
    assert set(sizes) == {5, 500}
    assert fit.info["parameterization"] == "auto"
    assert fit.info["centred_groups"] == 8 and fit.info["noncentred_groups"] == 8
    # the pilot's weights at tau count the forms; every group is sampled
    # around its conditional posterior, with the variance of its estimate
    si = hetfx.program.standata.build_stan_input(fit.design, fit.family_obj)
    w, v = si.data["noncentred"], si.data["pilot_variance"]
    # discrete modifiers: W keeps only the modifiers' main effects (T's column
    # and T.*(Z - zbar_g) are zero in every row)
    assert si.data["K"] == 4 and si.data["w_columns"].tolist() == [1, 2, 3, 4]
    assert (w[sizes == 500] < 0.5).all() and (w[sizes == 5] > 0.5).all()
    assert (v[sizes == 5] > 50 * v[sizes == 500].max()).all()
