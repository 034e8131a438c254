"""Every outcome family: recovery, response scale, outcome checks, priors only."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hetfx
from hetfx import DataError, OptionError
from hetfx.design.build import build_design
from hetfx.families import get_family
from hetfx.program.standata import build_stan_input

FAST = {"chains": 4, "iter_warmup": 500, "iter_sampling": 500}
NEW_FAMILIES = ["binomial", "poisson", "negative_binomial", "student_t", "ordinal"]


def _fit(sim, seed=1, parameterization="auto", **kw):
    model = hetfx.HetModel(
        sim.formula,
        family=sim.family_object,
        backend="pystan",
        parameterization=parameterization,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        return model.fit(sim.data, seed=seed, **{**FAST, **kw})


@pytest.mark.sampling
@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_recovery(family):
    sim = hetfx.datasets.simulate(
        n=3000,
        n_modifiers=4,
        n_controls=1,
        family=family,
        seed=21,
        alpha=0.5 if family in ("poisson", "negative_binomial") else 0.0,
        lambda_=[0.3, -0.2, 0.2, 0.0],
        sigma_theta=0.25,
    )
    fit = _fit(sim)
    assert fit.family == family
    eff = fit.effects().merge(sim.effects, on=["treatment", "group"])
    assert len(eff) == 16
    covered = (eff["lower"] <= eff["true_effect"]) & (
        eff["true_effect"] <= eff["upper"]
    )
    assert covered.sum() >= stats.binom.ppf(0.001, 16, 0.9), covered.sum()
    ate = fit.ate(prob=0.99).iloc[0]
    assert ate["lower"] <= sim.ate <= ate["upper"]
    mods = fit.modifiers(prob=0.99).set_index("parameter")
    for name, true in sim.lambda_.items():
        assert mods.loc[name, "lower"] <= true <= mods.loc[name, "upper"], name
    coefs = fit.coefficients(prob=0.99).set_index("parameter")
    if family == "negative_binomial":
        assert coefs.loc["phi", "lower"] <= 5.0 <= coefs.loc["phi", "upper"]
    if family in ("poisson", "negative_binomial", "binomial"):
        # expected outcomes at the units' own exposure: counts, not log counts
        pred = fit.predict(sim.data, kind="outcome")
        observed = sim.data["y"] / sim.data.get("trials", 1)
        assert pred["mean"].mean() == pytest.approx(observed.mean(), rel=0.1)
    if family == "student_t":
        assert {"sigma", "nu"} <= set(coefs.index)
    if family == "ordinal":
        assert "alpha" not in coefs.index
        cuts = coefs.loc[[c for c in coefs.index if c.startswith("cutpoints[")]]
        assert list(cuts.index)[0] == "cutpoints[1|2]"
        assert cuts["mean"].is_monotonic_increasing
        np.testing.assert_allclose(cuts["mean"], sim.cutpoints, atol=0.35)
    assert fit.diagnostics()["divergences"] == 0
    # the group effects as sampled (theta_raw) and reported (theta), no more
    assert {"theta_raw", "theta"} <= set(fit.idata.posterior.data_vars)
    assert "theta_free" not in fit.idata.posterior


@pytest.mark.sampling
def test_ordinal_response_scale_is_per_category():
    sim = hetfx.datasets.simulate(n=1500, n_modifiers=2, family="ordinal", seed=4)
    fit = _fit(sim)
    eff = fit.effects(scale="response")
    assert eff["category"].tolist()[:5] == ["1", "2", "3", "4", "5"]
    sums = eff.groupby("group")["mean"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 0.0, atol=1e-10)
    assert len(fit.ate(scale="response")) == 5
    con = fit.contrast("z1=1, z2=1", "z1=0, z2=0", scale="response")
    assert np.isfinite(con["mean"].item())


@pytest.mark.sampling
def test_bernoulli_response_ate_matches_difference_in_means(bernoulli_model):
    sim = hetfx.datasets.simulate(
        n=40000, n_modifiers=3, n_controls=0, family="bernoulli", seed=9, a=0.4
    )
    fit = _fit(sim)
    assert fit.info["aggregated_rows"] <= 16
    y, t = sim.data["y"], sim.data["treat"]
    dim = y[t == 1].mean() - y[t == 0].mean()
    ate = fit.ate(prob=0.99, scale="response").iloc[0]
    assert ate["lower"] <= dim <= ate["upper"]
    assert abs(ate["mean"] - dim) < 0.02
    eff = fit.effects(scale="response")
    # probability points: between -1 and 1, and the ATE is their weighted mean
    assert eff["mean"].between(-1, 1).all()
    weighted = np.average(eff["mean"], weights=eff["n_treated"])
    assert weighted == pytest.approx(ate["mean"], abs=1e-9)
    by = fit.by_modifier(scale="response")
    assert by["mean"].between(-1, 1).all()


def test_bernoulli_rows_merge_only_where_it_pays():
    """Merged bernoulli rows become binomial counts, whose likelihood costs
    more a row than one trial's (bernoulli_logit_glm): a design whose rows
    repeat a little keeps one row per unit, one whose rows repeat a lot is
    merged. Binomial rows with more trials always merge."""
    from hetfx.families.binomial import BERNOULLI_ROW_COST
    from hetfx.program.standata import build_stan_input

    rng = np.random.default_rng(2)
    n = 600
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n).round(2),  # a few repeated rows
            "t": rng.integers(0, 2, n),
            "z1": rng.integers(0, 2, n),
            "z2": rng.integers(0, 2, n),
            "k": rng.integers(1, 4, n),
        }
    )
    df["y"] = rng.integers(0, 2, n)
    design = build_design("y ~ x | t : z1 + z2", df, warn_groups=False)
    bernoulli = build_stan_input(design, get_family("bernoulli"))
    distinct = len(df.drop_duplicates(["x", "t", "z1", "z2"]))
    assert BERNOULLI_ROW_COST * n < distinct < n  # merging would not pay
    assert bernoulli.data["N"] == n and set(bernoulli.data["trials"]) == {1}
    df["x"] = df["x"] > 0  # now the rows repeat a lot
    design = build_design("y ~ x | t : z1 + z2", df, warn_groups=False)
    bernoulli = build_stan_input(design, get_family("bernoulli"))
    assert bernoulli.data["N"] == 16 and bernoulli.data["trials"].sum() == n
    df["x"] = rng.normal(size=n).round(2)
    df["y"] = df["y"] * df["k"]
    design = build_design(
        "y ~ x | t : z1 + z2", df, warn_groups=False, extra_variables=("k",)
    )
    binomial = build_stan_input(design, get_family("binomial", trials="k"))
    assert binomial.data["N"] < n


@pytest.mark.sampling
def test_aggregated_and_row_wise_bernoulli_agree(bernoulli_model):
    sim = hetfx.datasets.simulate(
        n=2000, n_modifiers=3, n_controls=0, family="bernoulli", seed=10
    )
    # 2000 draws a chain: sigma_theta of 8 groups mixes slowly, and the sds
    # below are compared within 15%
    agg = _fit(sim, seed=3, iter_sampling=2000)
    rows = _fit(sim, seed=4, aggregate=False, iter_sampling=2000)
    assert agg.info["aggregated_rows"] < rows.info["aggregated_rows"] == 2000
    for a_tab, r_tab in ((agg.modifiers(), rows.modifiers()), (agg.ate(), rows.ate())):
        mcse = np.sqrt(
            (a_tab["sd"] ** 2 / a_tab["ess_bulk"])
            + (r_tab["sd"] ** 2 / r_tab["ess_bulk"])
        )
        assert (np.abs(a_tab["mean"] - r_tab["mean"]) < 4.5 * mcse).all()
        assert np.allclose(a_tab["sd"], r_tab["sd"], rtol=0.15)


@pytest.mark.sampling
def test_prior_predictive(gaussian_model):
    sim = hetfx.datasets.simulate(n=600, n_modifiers=2, seed=12)
    model = hetfx.HetModel(sim.formula, backend="pystan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = model.sample_prior(sim.data, seed=1, **FAST)
        same = hetfx.fit(sim.formula, sim.data, prior_only=True, seed=1, **FAST)
    assert prior.info["prior_only"] is True
    np.testing.assert_array_equal(prior.draws("a"), same.draws("a"))
    sd_y = sim.data["y"].std(ddof=0)
    scale_a = prior.prior_summary().query("parameter == 'a'")["scale"].item()
    assert scale_a == pytest.approx(2.5 * sd_y)
    # a's prior draws follow its prior (normal, 2.5 sd_y), not the data
    draws = prior.draws("a_centred").ravel()
    assert draws.std() == pytest.approx(scale_a, rel=0.1)
    assert abs(draws.mean()) < 0.2 * scale_a
    assert len(prior.effects()) == 4 and prior.effects()["sd"].min() > 0.5
    # from the priors alone the group effects are sampled non-centred, which is
    # exact there: no funnel
    assert prior.info["parameterization"] == "noncentred"
    assert prior.diagnostics()["divergences"] == 0


def test_family_lookup_and_options():
    assert get_family("Negative-Binomial").name == "negative_binomial"
    assert get_family("cumulative").name == "ordinal"
    for guess in ("binary", "logit"):  # a link or a hint is no family name
        with pytest.raises(OptionError, match=f"Unknown family '{guess}'.*aliases:"):
            get_family(guess)
    assert get_family("poisson").exposure is None
    assert get_family("poisson", exposure="days").exposure == "days"
    assert get_family(hetfx.families.negative_binomial()).params == ("phi",)
    with pytest.raises(OptionError, match="binomial family needs its trials column"):
        get_family("binomial")
    with pytest.raises(OptionError, match="Unknown family 'weibull'; available"):
        get_family("weibull")
    assert hetfx.HetModel("y ~ x | t : z", family="ordinal").program == (
        hetfx.HetModel("y ~ x | t : z", family="ordinal").program
    )


def _stan_input(df, family, formula="y ~ x | t : z"):
    fam = get_family(family) if isinstance(family, str) else family
    design = build_design(
        formula, df, extra_variables=tuple(fam.variables), warn_groups=False
    )
    return build_stan_input(design, fam)


@pytest.fixture
def base():
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame(
        {"x": rng.normal(size=n), "t": [0, 1] * 20, "z": np.repeat([0, 1], 20), "n": 5}
    )


@pytest.mark.parametrize(
    "family, y, message",
    [
        (
            "bernoulli",
            lambda n: np.r_[np.zeros(n - 1), 2],
            "bernoulli outcome 'y' must be 0/1",
        ),
        (
            "poisson",
            lambda n: np.r_[np.ones(n - 1), 1.5],
            "non-negative integer counts; found 1.5",
        ),
        (
            "poisson",
            lambda n: np.r_[np.ones(n - 1), -1],
            "non-negative integer counts; found -1",
        ),
        ("negative_binomial", lambda n: np.r_[np.arange(n - 1), 0.2], "found 0.2"),
        (
            "ordinal",
            lambda n: np.tile([1, 2], n // 2),
            "has 2 levels; it needs at least 3",
        ),
        (
            "student_t",
            lambda n: np.ones(n),
            "student_t outcome 'y' takes only one value",
        ),
        (
            "gaussian",
            lambda n: np.full(n, 2.0),
            "gaussian outcome 'y' takes only one value",
        ),
    ],
)
def test_bad_outcomes(base, family, y, message):
    base["y"] = y(len(base))
    with pytest.raises(DataError, match=message):
        _stan_input(base, family)


def test_bad_binomial_and_exposure(base):
    base["y"] = np.r_[np.ones(len(base) - 1), 6]
    with pytest.raises(DataError, match="exceeds its trials 'n' in 1 rows"):
        _stan_input(base, hetfx.families.binomial(trials="n"))
    base["y"] = np.arange(len(base)) % 3
    base["exposure"] = np.r_[np.ones(len(base) - 1), 0]
    with pytest.raises(DataError, match="exposure 'exposure' must be positive"):
        _stan_input(base, hetfx.families.poisson(exposure="exposure"))
    with pytest.raises(DataError, match="Variable 'days'"):
        _stan_input(base, hetfx.families.poisson(exposure="days"))


def test_ordinal_levels_from_categories(base):
    base["y"] = pd.Categorical(
        np.tile(["low", "mid", "high", "mid"], 10),
        categories=["low", "mid", "high"],
        ordered=True,
    )
    si = _stan_input(base, "ordinal")
    assert si.info["levels"] == ["low", "mid", "high"]
    assert si.data["n_cat"] == 3
    np.testing.assert_array_equal(si.data["counts"].sum(axis=0), [10, 20, 10])
    names = hetfx.program.prior_data.summary_table(si.priors).query(
        "parameter == 'cutpoints'"
    )
    assert names["coefficient"].tolist() == ["low|mid", "mid|high"]
    assert "alpha" not in set(
        hetfx.program.prior_data.summary_table(si.priors)["parameter"]
    )


@pytest.mark.sampling
def test_categorical_recovery_and_tables():
    sim = hetfx.datasets.simulate(
        n=4000,
        n_modifiers=3,
        n_controls=1,
        family="categorical",
        seed=5,
        a=0.4,
        lambda_=[0.4, -0.3, 0.2],
        sigma_theta=0.25,
    )
    fit = _fit(sim, adapt_delta=0.99)
    assert fit.categories == ["B", "C"]
    eff = fit.effects()
    assert eff.columns[:3].tolist() == ["treatment", "category", "group"]
    merged = eff.merge(sim.effects, on=["treatment", "category", "group"])
    assert len(merged) == 16
    covered = (merged["lower"] <= merged["true_effect"]) & (
        merged["true_effect"] <= merged["upper"]
    )
    assert covered.sum() >= stats.binom.ppf(0.001, 16, 0.9), covered.sum()
    ate = fit.ate(prob=0.99).set_index("category")
    mods = fit.modifiers(prob=0.99)
    for category, truth in sim.by_category.items():
        assert ate.loc[category, "lower"] <= truth["ate"] <= ate.loc[category, "upper"]
        sub = mods[mods["category"] == category].set_index("parameter")
        for name, true in truth["lambda"].items():
            assert sub.loc[name, "lower"] <= true <= sub.loc[name, "upper"], name
    coefs = fit.coefficients()
    assert set(coefs["category"]) == {"B", "C"} and "alpha" in set(coefs["parameter"])
    assert "theta_free" not in fit.idata.posterior  # a local of the program
    # response scale: the probability of every category, reference included
    resp = fit.effects(scale="response")
    assert set(resp["category"]) == {"A", "B", "C"}
    np.testing.assert_allclose(resp.groupby("group")["mean"].sum(), 0.0, atol=1e-10)
    con = fit.contrast("z1=1, z2=1, z3=1", "z1=0, z2=0, z3=0")
    assert con["category"].tolist() == ["B", "C"]
    assert set(fit.by_modifier()["category"]) == {"B", "C"}
    loo = fit.loo()  # the numpy categorical log density, checked against Stan's
    assert np.isfinite(loo.elpd_loo) and loo.n_data_points == 4000
    assert fit.idata.log_likelihood["y"].shape[-1] == 4000
    with pytest.raises(OptionError, match="not available for the categorical family"):
        fit.ppc()
    for method in ("plot_effects", "group_effects"):  # effects() is per category
        with pytest.raises(OptionError, match=rf"^{method}\(\) is not available"):
            getattr(fit, method)()
    assert fit.diagnostics()["divergences"] == 0


def test_families_are_classes_and_old_saved_families_load():
    from hetfx.families import Family, NegativeBinomial, Ordinal

    nb = get_family("negative_binomial", exposure="days")
    assert isinstance(nb, NegativeBinomial) and nb.exposure == "days"
    assert nb.program == "count" and nb.params == ("phi",)
    # a fit saved before families were classes pickled the plain Family
    old = Family("ordinal", "logit", "ordinal", ("cutpoints",), intercept=False)
    new = get_family(old)
    assert type(new) is Ordinal and new == Ordinal()
    eta = np.zeros((2, 3))
    expected = new.expected(eta, {"cutpoints": np.array([[-1.0, 1.0]] * 2)})
    np.testing.assert_allclose(expected, 2.0)  # symmetric cutpoints: the middle
    # the categorical log density: log softmax([0, eta_B, eta_C])[y]
    eta_c = np.log(np.array([[[2.0, 1.0], [1.0, 1.0]]]))  # P = (1, 2, 1)/4, 1/3 each
    ll = get_family("categorical").log_likelihood(np.array([[2, 1]]), eta_c, {}, {})
    np.testing.assert_allclose(ll, np.log([[0.5, 1 / 3]]))
    with pytest.raises(OptionError, match="custom family has no numpy replicates"):
        Family("custom").replicate(eta, {}, {}, np.random.default_rng(0))
