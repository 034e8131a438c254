"""The collapsed gaussian program: the same posterior as the gaussian program
that samples every coefficient, without the funnel."""

import warnings

import numpy as np
import pytest

import hetfx
from hetfx.datasets import robustness_design
from hetfx.priors import StudentT


def _fit(formula, data, collapsed, seed=1, **sampler):
    model = hetfx.HetModel(formula, backend="pystan", collapsed=collapsed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(data, seed=seed, show_progress=False, **sampler)


def _agree(a, b, what):
    """Means within Monte Carlo error, sds within 15%."""
    mcse = np.sqrt(a["sd"] ** 2 / a["ess_bulk"] + b["sd"] ** 2 / b["ess_bulk"])
    gap = np.abs(a["mean"].to_numpy() - b["mean"].to_numpy())
    assert (gap < 4.5 * mcse.to_numpy() + 1e-9).all(), (what, gap / mcse)
    np.testing.assert_allclose(a["sd"], b["sd"], rtol=0.15, err_msg=what)


@pytest.mark.sampling
@pytest.mark.parametrize("design", ["rich8", "small64", "two_arms", "factorial"])
def test_collapsed_and_uncollapsed_programs_agree(
    design, gaussian_model, uncollapsed_gaussian_model
):
    if design == "two_arms":  # two equations, one without modifiers
        sim = hetfx.datasets.simulate(n=1500, n_modifiers=2, seed=4)
        data = sim.data.assign(s=np.random.default_rng(4).integers(0, 2, 1500))
        formula = "y ~ x1 + x2 | treat : z1 + z2 | s : 1"
    elif design == "factorial":  # units in a group of each: the dense path
        sim = hetfx.datasets.simulate(n=2000, n_modifiers=4, seed=6)
        rng = np.random.default_rng(6)
        s = rng.integers(0, 2, 2000)
        data = sim.data.assign(s=s, y=sim.data["y"] + s * (0.3 * sim.data["z3"]))
        formula = "y ~ x1 + x2 | treat : z1 + z2 | s : z3 + z4"
    else:
        formula, data = robustness_design(design, "gaussian", seed=2)
    # sds agree within 15% only with enough draws: sigma_theta's sd has a
    # Monte Carlo error of several percent at 1000 draws, and the second
    # equation of the factorial design (4 groups for 2 modifiers) a
    # sigma_theta with a long tail (99% quantile near 2) that widens its lambdas
    draws = {"iter_sampling": 4000 if design == "factorial" else 2000}
    collapsed = _fit(formula, data, None, **draws)
    full = _fit(formula, data, False, adapt_delta=0.95, **draws)
    assert collapsed.info["program"] == "gaussian_collapsed"
    assert full.info["program"] == "gaussian"
    assert "collapsed=False" in full.info["program_note"]
    assert "coefficients integrated out" in collapsed.summary()
    assert "group effects:" in full.summary() and "collapsed=False" in full.summary()
    for table in ("effects", "modifiers", "coefficients", "ate"):
        _agree(getattr(collapsed, table)(), getattr(full, table)(), table)
    assert collapsed.diagnostics()["divergences"] == 0
    # the same names as the gaussian program, so every table and tool works
    # the group effects and sigma_theta as sampled
    sampled = {"theta_raw", "sigma_theta_free"}
    assert "theta_free" not in full.idata.posterior  # a local of the program
    assert set(full.idata.posterior.data_vars) - sampled <= set(
        collapsed.idata.posterior.data_vars
    )


@pytest.mark.sampling
def test_collapsed_reproduces_and_student_t_priors_use_the_full_program(
    gaussian_model, uncollapsed_gaussian_model
):
    import httpstan.cache
    import httpstan.models

    formula, data = robustness_design("rich8", "gaussian", seed=3)
    fits = (
        httpstan.cache.model_directory(
            httpstan.models.calculate_model_name(gaussian_model.program)
        )
        / "fits"
    )
    before = set(fits.glob("*")) if fits.is_dir() else set()
    one, two = (_fit(formula, data, None, seed=5) for _ in range(2))
    # httpstan keeps no fit, so the second call sampled again: a real
    # reproduction, not the first fit read back from httpstan's cache
    assert (set(fits.glob("*")) if fits.is_dir() else set()) <= before
    np.testing.assert_array_equal(
        one.idata.posterior["theta"].values, two.idata.posterior["theta"].values
    )
    assert "log_sigma" not in one.idata.posterior  # sigma, as other programs
    robust = hetfx.HetModel(formula, priors={"lambda": StudentT(3, 0, 1)})
    assert robust.program_name == "gaussian"
    with pytest.raises(hetfx.OptionError, match="lambda=StudentT"):
        hetfx.HetModel(formula, priors={"lambda": StudentT(3, 0, 1)}, collapsed=True)
    with pytest.raises(hetfx.OptionError, match="needs the gaussian family"):
        hetfx.HetModel(formula, family="bernoulli", collapsed=True)


@pytest.mark.sampling
@pytest.mark.parametrize("factor", ["none", "respondent", "weighted respondent"])
def test_collapsed_likelihood_is_the_gaussian_marginal(factor, gaussian_model):
    """Stan's collapsed log density (with minus without the likelihood) against
    numpy's log N(y | W M mu_r, sigma^2 I + W M Sigma_r M'W' + sd^2 S S') at
    several values of sigma, sigma_theta and the factor's sd (S: the levels'
    indicators; with weights w, sigma^2 diag(1/w) and the pseudo-likelihood's
    -(sum w - N) log sigma): equal up to a constant."""
    from scipy import stats

    import stan
    from hetfx.backends.pystan_backend import to_pystan_data
    from hetfx.design.build import build_design
    from hetfx.families import get_family
    from hetfx.program.matrices import design_matrix
    from hetfx.program.standata import build_stan_input, scaling

    sim = hetfx.datasets.simulate(n=300, n_modifiers=2, seed=8)
    rng = np.random.default_rng(8)
    # levels of 1 to 11 units: several levels share each size
    data = sim.data.assign(
        respondent=rng.integers(0, 70, 300), w=rng.uniform(0.3, 2, 300)
    )
    formula = sim.formula
    options = {}
    if factor != "none":
        formula = formula.replace(" |", " + (1 | respondent) |", 1)
    if factor.startswith("weighted"):
        options = {"weights": "w"}
    design = build_design(formula, data, warn_groups=False, **options)
    d = build_stan_input(
        design, get_family("gaussian"), program="gaussian_collapsed"
    ).data
    assert d["n_levels"] == (0 if factor == "none" else data.respondent.nunique())
    # ten distinct level sizes; with weights every level has its own
    n_sizes = {"none": 0, "respondent": 10, "weighted respondent": d["n_levels"]}
    assert d["n_sizes"] == n_sizes[factor]
    assert d["n_size_rows"] <= d["n_levels"]
    full, prior = (
        stan.build(gaussian_model.program, data=to_pystan_data(x), random_seed=1)
        for x in (d, {**d, "prior_only": 1})
    )
    K, E, L, G = d["K"], d["E"], d["L"], d["G"]
    F = 1 + K + E + L
    W = design_matrix(design, scaling(design))
    y = design.y - d["y_shift"]
    w = np.ones(len(y)) if design.weights is None else design.weights
    S = np.zeros((len(y), 0))
    if design.factors:
        S = np.eye(design.factors[0].n_levels)[design.factors[0].index]
    # prior of phi on the scale of W, and theta_g = a + zbar_g lambda + delta_g
    mean = np.r_[
        d["prior_loc_alpha"] - d["y_shift"],
        d["prior_loc_beta"] * d["x_scale"],
        d["prior_loc_a"],
        d["prior_loc_lambda"] * d["z_scale"],
    ]
    sd = np.r_[
        d["prior_scale_alpha"],
        d["prior_scale_beta"] * d["x_scale"],
        d["prior_scale_a"],
        d["prior_scale_lambda"] * d["z_scale"],
    ]
    A = np.zeros((G, F))
    A[np.arange(G), 1 + K + d["group_eq"] - 1] = 1
    A[:, 1 + K + E :] = (d["z_group"] - d["z_mean"]) / d["z_scale"]
    M = np.block([[np.eye(F), np.zeros((F, G))], [A, np.eye(G)]])
    gaps = []
    for sigma, sigma_theta, sd_b in (
        (0.9, 0.2, 0.4),
        (1.1, 0.5, 1.5),
        (1.0, 0.05, 0.1),
    ):
        cov_r = np.diag(np.r_[sd**2, np.full(G, sigma_theta**2)])
        WM = W @ M
        cov = np.diag(sigma**2 / w) + WM @ cov_r @ WM.T + sd_b**2 * S @ S.T
        numpy_ll = stats.multivariate_normal.logpdf(
            y, WM @ np.r_[mean, np.zeros(G)], cov
        ) - 0.5 * (w.sum() - len(y)) * np.log(sigma**2)
        values = {"log_sigma": np.log(sigma), "sigma_theta": [sigma_theta]}
        values["sd_factor"] = [sd_b] if design.factors else []
        u = full.unconstrain_pars(values)
        stan_ll = full.log_prob(u, adjust_transform=False) - prior.log_prob(
            u, adjust_transform=False
        )
        gaps.append(stan_ll - numpy_ll)
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-6)


@pytest.mark.sampling
def test_collapsed_with_a_factor_agrees_with_the_row_wise_program(gaussian_model):
    """(1 | respondent) integrated out gives the posterior of the program that
    samples every intercept, and the same intercepts."""
    sim = hetfx.datasets.simulate_conjoint(n_respondents=150, n_tasks=6, seed=3)
    collapsed = _fit(sim.formula, sim.data, None)
    rows = _fit(sim.formula, sim.data, False)
    assert collapsed.info["program"] == "gaussian_collapsed"
    assert rows.info["program"] == "gaussian_rows"
    for table in ("effects", "modifiers", "coefficients", "ate", "intercepts"):
        _agree(getattr(collapsed, table)(), getattr(rows, table)(), table)
    assert collapsed.diagnostics()["divergences"] == 0
    assert collapsed.idata.posterior["b"].sizes["level"] == 150
