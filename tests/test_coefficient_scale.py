"""The sampler's origin and units from the pilot fit (coefficient_scale)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

import hetfx
from hetfx.design.build import build_design
from hetfx.families import get_family
from hetfx.families.units import LOG_NU_RANGE, cutpoint_units, log_phi_units, t_fit
from hetfx.program import standata
from hetfx.program.coefficient_scale import (
    POOLING_ORIGIN,
    effective_variance,
    log_slope,
    pooling_coordinate,
    sampler_units,
    treated_levels,
)
from hetfx.program.parameterization import pilot_group_estimates
from hetfx.program.standata import build_stan_input


def frame(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "t": rng.integers(0, 2, n),
            "z": rng.integers(0, 3, n),
        }
    )
    df["y"] = 1 + 0.5 * df.x + df.t * (0.3 + 0.4 * df.z) + rng.normal(size=n)
    return df


def gaussian_pilot_units(df: pd.DataFrame):
    """For ``y ~ x | t : z``: the design, the gaussian family, its program's
    Stan data, the pilot, the pilot's group estimates and the sampler's units."""
    design = build_design("y ~ x | t : z", df, warn_groups=False)
    family = get_family("gaussian")
    data = build_stan_input(design, family, program="gaussian").data
    pilot = family.pilot_statistics(data, design.layout)
    groups = pilot_group_estimates(pilot, design.layout)
    units = sampler_units(data, design.layout, family, pilot, groups)
    return design, family, data, pilot, groups, units


def test_gaussian_pilot_gives_the_treated_level_and_its_sd():
    """For a gaussian outcome the pilot is least squares: the treated units'
    level (a as sampled) is their mean outcome, with sd s / sqrt(n_treated),
    and beta_std the interaction model's coefficient of the standardised x."""
    df = frame()
    design, family, data, pilot, groups, units = gaussian_pilot_units(df)
    layout = design.layout
    treated = df.t.to_numpy() == 1
    X = np.column_stack([np.ones(len(df)), df.x, df.z, df.t, df.t * df.z])
    coef, ssr, rank, _ = np.linalg.lstsq(X, df.y, rcond=None)
    s = np.sqrt(ssr[0] / (len(df) - rank))
    a = layout.treatment.start
    assert units["coef_loc"][a] == pytest.approx(
        df.y[treated].mean() - data["y_shift"], rel=1e-9
    )
    assert units["coef_scale"][a] >= s / np.sqrt(treated.sum()) * (1 - 1e-9)
    x = layout.control_columns.start  # x is the first control
    assert units["coef_loc"][x] == pytest.approx(coef[1] * data["x_scale"][0], rel=1e-9)
    assert units["coef_scale"][x] < 0.1
    # three groups (z = 0, 1, 2), each sampled around its conditional
    # posterior: least squares with a column per group fits each group's
    # treated rows exactly on average, so the pilot's treated level is their
    # mean outcome, and the variance given the other coefficients is the
    # residual variance over the group's treated count
    group_of = design.group_table()["z"].to_numpy()
    counts = np.array([(treated & (df.z == z)).sum() for z in group_of])
    means = np.array([df.y[treated & (df.z == z)].mean() for z in group_of])
    np.testing.assert_allclose(units["theta_level"], means - data["y_shift"], rtol=1e-9)
    residual = data["pilot_variance"] * counts
    np.testing.assert_allclose(residual, residual[0], rtol=1e-9)
    assert 0.7 < residual[0] < 1.3  # the simulated noise variance is 1
    np.testing.assert_array_equal(units["theta_scale"], np.ones(3))
    # forced centred: no conditional form; each group in units of its pilot sd
    centred = build_stan_input(
        design, family, parameterization="centred", program="gaussian"
    ).data
    units = sampler_units(centred, layout, family, pilot, groups)
    np.testing.assert_allclose(units["theta_scale"] ** 2, groups.variance)
    assert np.all((units["theta_scale"] > 0) & (units["theta_scale"] < 1))
    np.testing.assert_array_equal(units["theta_level"], np.zeros(3))


def test_which_fits_sample_in_pilot_units():
    """Row-wise fits sample in the pilot's units, with the family's own
    parameters; fits from the priors in unit scales, and the standalone
    programs (collapsed gaussian, categorical) read none of it."""
    df = frame()
    design = build_design("y ~ x | t : z", df, warn_groups=False)
    n_fixed = design.layout.groups.start
    student = build_stan_input(design, get_family("student_t")).data
    assert np.all(student["coef_scale"] < 0.5)
    # log sigma near the residual sd (1 here), in units of about (2 n)^-1/2;
    # gaussian residuals: the t fit's nu at its upper bound, in unit scale
    assert abs(student["log_sigma_loc"]) < 0.2
    assert student["log_sigma_scale"] == pytest.approx(
        1 / np.sqrt(2 * len(df)), rel=0.2
    )
    assert student["log_nu_loc"] == pytest.approx(LOG_NU_RANGE[1])
    assert student["log_nu_scale"] == 1.0
    si = build_stan_input(design, get_family("student_t"), prior_only=True)
    np.testing.assert_array_equal(si.data["coef_loc"], np.zeros(n_fixed))
    np.testing.assert_array_equal(si.data["coef_scale"], np.ones(n_fixed))
    np.testing.assert_array_equal(si.data["theta_scale"], np.ones(3))
    # sigma_theta's coordinate at sigma_theta = c = 1, unit 1 on the log scale
    np.testing.assert_array_equal(si.data["sigma_theta_reference"], np.ones(1))
    np.testing.assert_allclose(si.data["sigma_theta_loc"], [POOLING_ORIGIN])
    np.testing.assert_allclose(
        si.data["sigma_theta_scale"] * log_slope(POOLING_ORIGIN), [1.0]
    )
    assert si.data["log_sigma_scale"] == 1.0
    assert (si.data["log_nu_loc"], si.data["log_nu_scale"]) == (0.0, 1.0)
    collapsed = build_stan_input(
        design, get_family("gaussian"), program="gaussian_collapsed"
    )
    assert "coef_scale" not in collapsed.data
    assert collapsed.data["log_sigma_scale"] == pytest.approx(1 / np.sqrt(2 * 400))


def test_student_t_units_recover_the_shape_and_scale():
    """log sigma and log(nu - 1) start at the t fit of the pilot's residuals,
    within a few of their sds of the truth (nu = 4, sigma = 2), in units of
    those sds; the t fit counts the rows' weights."""
    n = 4000
    df = frame(n=n, seed=5)
    rng = np.random.default_rng(5)
    df["y"] = 1 + 0.5 * df.x + df.t * (0.3 + 0.4 * df.z) + 2 * rng.standard_t(4, n)
    design = build_design("y ~ x | t : z", df, warn_groups=False)
    data = build_stan_input(design, get_family("student_t")).data
    log_nu, sd_nu = data["log_nu_loc"], data["log_nu_scale"]
    assert 0.04 < sd_nu < 0.2 and abs(log_nu - np.log(3)) < 3 * sd_nu
    log_sigma, sd_sigma = data["log_sigma_loc"], data["log_sigma_scale"]
    assert 0.01 < sd_sigma < 0.05 and abs(log_sigma - np.log(2)) < 3 * sd_sigma
    # doubling every row's weight halves the variances
    residuals = np.asarray(data["y"]) - np.median(data["y"])
    (loc, sd), (loc2, sd2) = (t_fit(residuals, np.full(n, w)) for w in (1.0, 2.0))
    np.testing.assert_allclose(loc2, loc, atol=1e-5)
    np.testing.assert_allclose(sd2, sd / np.sqrt(2), rtol=1e-3)


def test_negative_binomial_pilot_weighs_units_by_their_information():
    """The negative binomial's pilot weighs a unit by mu phi / (mu + phi), the
    NB2 information of eta, with phi from the counts' moments around the
    Poisson fit: near the true shape where the covariates, not the
    shape, make most of the counts' spread (within 30%)."""
    from scipy.optimize import brentq

    rng = np.random.default_rng(8)
    n, phi = 20_000, 2.0
    df = frame(n=n, seed=8)
    mu = np.exp(1 + 1.2 * df.x + df.t * (0.3 + 0.4 * df.z))
    df["y"] = rng.negative_binomial(phi, phi / (phi + mu))
    design = build_design("y ~ x | t : z", df, warn_groups=False)
    nb = get_family("negative_binomial")
    data = build_stan_input(design, nb).data
    pilot = nb.pilot_statistics(data, design.layout)
    # the intercept's information, sum mu phi / (mu + phi), with each unit at
    # its own mean (the Poisson fit, near the true mu): solved for phi
    mu = mu.to_numpy()  # (the sum does not depend on the rows' order)

    def information(shape: float) -> float:
        return float(np.sum(mu * shape / (mu + shape))) - pilot.gram[0, 0]

    assert brentq(information, 1e-3, 1e3) == pytest.approx(phi, rel=0.3)
    # the marginal moments (log phi's origin) take the covariates for shape
    assert np.exp(data["log_phi_loc"][0]) < 0.5 * phi


@pytest.mark.parametrize(
    ("family", "means", "information", "link"),
    [
        ("bernoulli", (0.5, 0.9, 0.75), lambda m: m * (1 - m), scipy.special.logit),
        ("poisson", (1.0, 8.0, 3.0), lambda m: m, np.log),
    ],
)
def test_pilot_weighs_each_group_by_its_own_information(
    family, means, information, link
):
    """The pilot's IRLS to convergence: a group's variance given the other
    coefficients is one over its treated units' own information (n p (1 - p),
    n mu), and its estimate its own level, not those of one step from the
    overall mean (which took every unit's information at the mean: for shares
    0.5 and 0.9 it gave the second group less than half its variance)."""
    rng = np.random.default_rng(5)
    n = 8_000
    z = rng.integers(0, 3, n)
    t = rng.integers(0, 2, n)
    mean = np.where(t == 1, np.take(means, z), np.mean(means))
    y = rng.binomial(1, mean) if family == "bernoulli" else rng.poisson(mean)
    df = pd.DataFrame({"y": y, "t": t, "z": z})
    design = build_design("y ~ 1 | t : z", df, warn_groups=False)
    fam = get_family(family)
    data = build_stan_input(design, fam).data
    groups = pilot_group_estimates(
        fam.pilot_statistics(data, design.layout), design.layout
    )
    z_of_group = design.group_table()["z"].to_numpy()
    treated = np.array([((t == 1) & (z == g)).sum() for g in z_of_group])
    own = np.array([information(means[g]) for g in z_of_group])
    np.testing.assert_allclose(
        groups.information_variance, 1 / (treated * own), rtol=0.1
    )
    # the treated level of each group (no controls: alpha + theta_g) at its
    # own link
    levels = treated_levels(data, groups, intercept=True) + data["y_shift"]
    np.testing.assert_allclose(levels, link(np.take(means, z_of_group)), atol=0.1)


def test_negative_binomial_shape_units():
    """log phi starts at the counts' moment estimate, within a few of its sds
    of the true shape."""
    rng = np.random.default_rng(4)
    phi, mean = 3.0, 4.0
    y = rng.negative_binomial(phi, phi / (phi + mean), size=20_000)
    units = log_phi_units({"y": y}, pilot=True)
    loc, scale = units["log_phi_loc"][0], units["log_phi_scale"][0]
    assert 0.005 < scale < 0.1
    assert abs(loc - np.log(phi)) < 4 * scale
    assert log_phi_units({"y": y}, pilot=None)["log_phi_scale"][0] == 1.0


def test_cutpoint_units_rebuild_the_cumulative_logits():
    counts = np.array([[30.0, 0, 0, 0], [0, 50, 0, 0], [0, 0, 15, 5]])
    units = cutpoint_units({"counts": counts}, pilot=True)
    share = np.cumsum(counts.sum(0))[:-1] / counts.sum()
    loc = units["cutpoint_loc"]
    cut = np.cumsum(np.r_[loc[0], np.exp(loc[1:])])
    np.testing.assert_allclose(cut, np.log(share / (1 - share)))
    assert units["cutpoint_scale"][0] == pytest.approx(
        1 / np.sqrt(100 * share[0] * (1 - share[0]))
    )
    assert np.all(units["cutpoint_scale"] > 0)


@pytest.mark.parametrize(
    "family", ["bernoulli", "negative_binomial", "ordinal", "student_t"]
)
def test_pilot_units_leave_the_posterior_unchanged(family, monkeypatch):
    """The offsets and multipliers are affine maps fixed by the data: the
    posterior with the pilot's units matches the one with unit scales within
    Monte Carlo error."""
    sim = hetfx.datasets.simulate(
        n=1200, n_modifiers=2, n_controls=2, family=family, seed=5
    )
    model = hetfx.HetModel(sim.formula, family=sim.family_object, backend="pystan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaled = model.fit(sim.data, seed=3)
        monkeypatch.setattr(
            standata,
            "sampler_units",
            lambda data, layout, family, *args: sampler_units(data, layout, family),
        )
        unit = model.fit(sim.data, seed=3)
    assert scaled.info["rows"] == unit.info["rows"]
    names = ["beta", "a", "lambda", "theta", "sigma_theta", *model.family.params]
    for name in names:
        first = scaled.idata.posterior[name]
        second = unit.idata.posterior[name]
        mean_1 = first.mean(("chain", "draw")).values
        mean_2 = second.mean(("chain", "draw")).values
        sd = np.sqrt(
            first.var(("chain", "draw")).values + second.var(("chain", "draw")).values
        )
        # each mean's Monte Carlo error is below sd / sqrt(ESS) with ESS >= 400
        assert np.all(np.abs(mean_1 - mean_2) < 5 * sd / np.sqrt(400)), name


def test_group_effects_prior_stays_exact_at_tiny_sigma_theta(bernoulli_model):
    """group_effects_lp standardises the group effects without forming
    theta_g - mu_g, which rounds to 0 once sigma_theta is below mu_g's
    precision: there the prior of theta_raw must not vanish. Between two tiny
    sigma_theta the log density changes by the Jacobian of pooling_scale alone,
    log sigma_theta + log h'(x) (the likelihood sees theta_g = mu_g, the
    prior of sigma_theta is flat near 0)."""
    import stan
    from hetfx.backends.pystan_backend import to_pystan_data

    formula, frame = hetfx.datasets.robustness_design("rich8", "bernoulli", 1)
    model = hetfx.HetModel(formula, family="bernoulli", backend="pystan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = build_design(formula, frame)
    si = build_stan_input(design, model.family, program=model.program_name)
    assert (si.data["pilot_variance"] > 0).all()  # the conditional form
    posterior = stan.build(model.program, data=to_pystan_data(si.data), random_seed=1)
    layout = design.layout
    values = {
        "alpha_raw": float(si.data["coef_loc"][0]),
        "beta_std": si.data["coef_loc"][layout.control_columns].tolist(),
        "sigma_theta_free": [0.0],
        "a_centred": [0.3],
        "lambda_std": [0.1] * layout.L,
        "theta_raw": [1.5, -1.5] * (layout.G // 2),
        "sd_factor": [],
        "b": [],
    }
    reference = np.log(si.data["sigma_theta_reference"][0])
    log_density, jacobian = {}, {}
    for log_sigma in (-30.0, -45.0, -60.0):
        x = pooling_coordinate(log_sigma - reference)
        values["sigma_theta_free"] = [x]
        point = posterior.unconstrain_pars(values)
        log_density[log_sigma] = posterior.log_prob(point, adjust_transform=False)
        jacobian[log_sigma] = log_sigma + np.log(log_slope(x))
    # sum(theta_raw^2) / 2 = 9 would appear as a jump if the prior vanished
    for low, high in ((-45.0, -30.0), (-60.0, -45.0)):
        assert log_density[low] - log_density[high] == pytest.approx(
            jacobian[low] - jacobian[high], abs=1e-6
        )


def test_gaussian_group_effects_sample_as_standard_normals(
    uncollapsed_gaussian_model,
):
    """For a gaussian outcome each group effect's conditional posterior given
    sigma_theta, a, lambda, alpha and beta is the normal its pilot estimate
    implies (up to sigma against the pilot's residual sd): theta_raw is then
    N(0, 1) a posteriori and unrelated to sigma_theta, the funnel gone."""
    rng = np.random.default_rng(11)
    n = 1800
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "treat": rng.integers(0, 2, n),
            "z1": rng.integers(0, 3, n),
            "z2": rng.integers(0, 2, n),
        }
    )
    deviation = rng.normal(0, 0.3, size=(3, 2))[df.z1, df.z2]
    effect = 0.4 + 0.2 * df.z1 - 0.3 * df.z2 + deviation
    df["y"] = 0.5 * df.x1 - df.x2 + df.treat * effect + rng.normal(size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = uncollapsed_gaussian_model.fit(df, seed=4)
    assert fit.info["program"] == "gaussian"
    raw = fit.idata.posterior["theta_raw"].values.reshape(-1, 6)
    log_sigma = np.log(fit.idata.posterior["sigma_theta"].values.ravel())
    assert np.all(np.abs(raw.mean(axis=0)) < 0.1)
    assert np.all((raw.std(axis=0) > 0.9) & (raw.std(axis=0) < 1.1))
    for g in range(6):
        for value in (raw[:, g], raw[:, g] ** 2):
            assert abs(np.corrcoef(log_sigma, value)[0, 1]) < 0.1


@given(st.floats(-25.0, 25.0))
def test_pooling_coordinate_inverts_the_map(log_ratio):
    """sigma_theta = c exp(h(x)): pooling_coordinate gives the x of
    log(sigma_theta / c), the log scale above c and a gaussian tail below."""
    x = pooling_coordinate(log_ratio)
    h = x - 0.5 * np.log1p(np.exp(-x)) ** 2
    assert h == pytest.approx(log_ratio, abs=1e-9)
    if log_ratio > 5:
        assert x == pytest.approx(log_ratio, abs=0.01)
    if log_ratio < -5:
        assert x == pytest.approx(-np.sqrt(-2 * log_ratio), abs=1.5)


def test_sigma_theta_reference_is_the_groups_resolution():
    """c_e = sqrt(median v_g): the pilot sd of a typical group's estimate, the
    sigma_theta below which the groups cannot tell it from 0."""
    df = frame()
    _, _, data, _, groups, units = gaussian_pilot_units(df)
    assert units["sigma_theta_reference"][0] == pytest.approx(
        np.sqrt(np.median(groups.variance)), rel=1e-12
    )
    np.testing.assert_allclose(
        data["sigma_theta_reference"], units["sigma_theta_reference"]
    )


@given(
    st.lists(st.floats(1e-4, 10.0), min_size=2, max_size=40),
    st.floats(0.0, 4.0),
)
def test_effective_variance_weighs_groups_as_the_meta_regression(v, spread):
    """G / (spread + v_e) = sum_g 1 / (spread + v_g): the information the
    groups give a and lambda at sigma_theta^2 = spread; between the harmonic
    and the arithmetic mean of v_g, and v_g itself when they are equal."""
    v = np.asarray(v)
    v_e = effective_variance(v, spread)
    assert len(v) / (spread + v_e) == pytest.approx(np.sum(1 / (spread + v)))
    harmonic = len(v) / np.sum(1 / v)
    assert harmonic * (1 - 1e-9) <= v_e <= v.mean() * (1 + 1e-9)
    assert effective_variance(np.full(5, v[0]), spread) == pytest.approx(v[0])


def test_unequal_groups_take_the_precise_groups_variance():
    """8 groups of 5 treated units and 8 of 500 (tests/test_robustness.py's
    design): their sampling variances differ 100-fold and a, lambda follow the
    precise ones: group_variance is far below the mean variance (which left a
    funnel between a, lambda and sigma_theta: a divergence at some seeds)."""
    from test_robustness import _mixed_groups

    design = build_design(
        "y ~ 1 | t : z1 + z2 + z3 + z4", _mixed_groups(), warn_groups=False
    )
    family = get_family("bernoulli")
    data = build_stan_input(design, family).data
    pilot = family.pilot_statistics(data, design.layout)
    groups = pilot_group_estimates(pilot, design.layout)
    tau2 = data["spread_reference"][0] - data["group_variance"][0]
    assert tau2 > 0
    assert data["group_variance"][0] == pytest.approx(
        effective_variance(groups.variance, tau2)
    )
    assert data["group_variance"][0] < 0.5 * groups.variance.mean()
