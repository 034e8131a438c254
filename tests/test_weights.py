"""Survey weights: a pseudo-likelihood sum_i w_i log p(y_i) in every program,
checked against numpy, against duplicated rows and against weighted least
squares; bad weights are errors naming the column."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import hetfx
from conftest import check_likelihood, merging_model, short_fit
from hetfx.design.build import build_design
from hetfx.program.matrices import sufficient_statistics
from hetfx.program.standata import build_stan_input, scaling


def survey(n=600, seed=2, family="gaussian"):
    sim = hetfx.datasets.simulate(n=n, n_modifiers=2, family=family, seed=seed)
    rng = np.random.default_rng(seed)
    sim.data["w"] = rng.integers(1, 4, n).astype(float)  # 1, 2 or 3
    return sim


def duplicated(data):
    """Each row repeated w times: what integer weights stand for."""
    return data.loc[data.index.repeat(data["w"].astype(int))].reset_index(drop=True)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.0, -1.0], "20 negative values"),
        ([1.0, np.nan], "20 missing values"),
        ([1.0, np.inf], "20 infinite values"),
        ([0.0, 0.0], "all zero"),
        (["a", "b"], "must be numeric"),
    ],
)
def test_bad_weights_are_errors_naming_the_column(values, message):
    sim = survey(n=40)
    data = sim.data.assign(w=np.resize(np.asarray(values), 40))
    with pytest.raises(hetfx.DataError, match=f"Weights 'w' .*{re.escape(message)}"):
        build_design(sim.formula, data, weights="w")
    with pytest.raises(hetfx.DataError, match="'wt' .* not in the data"):
        build_design(sim.formula, sim.data, weights="wt")


def test_weights_are_scaled_to_mean_one_unless_raw():
    sim = survey()
    scaled = build_design(sim.formula, sim.data, weights="w").weights
    raw = build_design(sim.formula, sim.data, weights="w", normalize_weights=False)
    assert scaled.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(raw.weights, sim.data["w"])


def test_integer_weights_give_the_statistics_of_duplicated_rows():
    sim = survey()
    weighted = build_design(sim.formula, sim.data, weights="w", normalize_weights=False)
    dup = build_design(sim.formula, duplicated(sim.data))
    sc = scaling(weighted)  # the same centring for both, so W is the same map
    a = sufficient_statistics(weighted, sc, 0.3)
    b = sufficient_statistics(dup, sc, 0.3)
    for key in ("N", "WtW", "Wty", "yty"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-10, err_msg=key)
    # bernoulli: weighted successes and failures of merged rows are the counts
    # of the duplicated rows
    sim = survey(family="bernoulli")
    for x in ("x1", "x2"):
        sim.data[x] = (sim.data[x] > 0).astype(float)
    fam = hetfx.families.get_family("bernoulli")
    options = {"weights": "w", "normalize_weights": False}
    weighted = build_stan_input(build_design(sim.formula, sim.data, **options), fam)
    dup = build_stan_input(build_design(sim.formula, duplicated(sim.data)), fam)
    assert weighted.data["weighted"] == 1 and dup.data["weighted"] == 0
    np.testing.assert_allclose(weighted.data["success_weight"], dup.data["y"])
    np.testing.assert_allclose(
        weighted.data["failure_weight"],
        np.asarray(dup.data["trials"]) - np.asarray(dup.data["y"]),
    )
    # negative binomial: units sharing eta, the count and the exposure merge,
    # so integer weights and duplicated rows give the same rows (the designs'
    # centring differs: unweighted means)
    sim = survey(family="negative_binomial")
    sim.data["exposure"] = 1.0
    for x in ("x1", "x2"):
        sim.data[x] = (sim.data[x] > 0).astype(float)
    fam = hetfx.families.get_family("negative_binomial", exposure="exposure")
    extra = {"extra_variables": ("exposure",)}
    weighted = build_stan_input(
        build_design(sim.formula, sim.data, **options, **extra), fam
    )
    dup = build_stan_input(
        build_design(sim.formula, duplicated(sim.data), **extra), fam
    )
    assert weighted.data["weighted"] == dup.data["weighted"] == 1
    assert weighted.data["N"] < 600 / 1.8
    for key in ("N", "y", "weight", "log_exposure", "y_distinct", "y_distinct_weight"):
        np.testing.assert_allclose(
            np.asarray(dup.data[key], float),
            np.asarray(weighted.data[key], float),
            err_msg=key,
        )


def test_partitioned_weights_equal_in_memory():
    dd = pytest.importorskip("dask.dataframe")
    from hetfx.design.partitions import summarise_partitions

    sim = survey(n=900)
    for normalize in (True, False):
        model = hetfx.HetModel(sim.formula, weights="w", normalize_weights=normalize)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            memory = build_stan_input(model.design(sim.data), model.family).data
            design, summary = summarise_partitions(
                model.parsed, dd.from_pandas(sim.data, npartitions=5),
                model.design_options,
            )  # fmt: skip
            parts = build_stan_input(design, model.family, summary=summary).data
        for key in ("N", "WtW", "Wty", "yty"):
            np.testing.assert_allclose(
                parts[key], memory[key], rtol=1e-8, atol=1e-8, err_msg=key
            )
    bad = sim.data.assign(w=sim.data["w"].where(sim.data.index != 5))
    with pytest.raises(hetfx.DataError, match="Weights 'w' have 1 missing"):
        summarise_partitions(
            model.parsed, dd.from_pandas(bad, npartitions=5), model.design_options
        )


@pytest.mark.sampling
@pytest.mark.parametrize("family", hetfx.datasets.FAMILIES)
def test_weighted_stan_likelihood_equals_numpy(
    family, uncollapsed_gaussian_model, bernoulli_model
):
    """Every program's weighted likelihood, merged rows and one by one, equals
    numpy's sum_i w_i log p(y_i) at posterior draws (up to a constant)."""

    from hetfx.results.checks import log_likelihood

    sim = survey(n=300, seed=4, family=family)
    sim.data["w"] = np.round(np.random.default_rng(1).uniform(0, 3, 300), 1)
    model = merging_model(sim, weights="w")
    fit, merged, one_by_one = short_fit(model, sim.data)
    assert merged.get("weighted", 1) == 1
    numpy_ll = (log_likelihood(fit)[0] * fit.design.weights).sum(axis=-1)
    check_likelihood(model, fit, merged, one_by_one, numpy_ll)
    with pytest.raises(hetfx.OptionError, match="survey weights"):
        fit.loo()


def _mean_table(fit):
    return fit.effects().set_index("group")[["mean", "sd"]]


@pytest.mark.sampling
@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_integer_weights_equal_duplicated_rows(family, gaussian_model, bernoulli_model):
    sim = survey(n=800, seed=6, family=family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = hetfx.fit(
            sim.formula, sim.data, family=family, weights="w",
            normalize_weights=False, seed=1,
        )  # fmt: skip
        dup = hetfx.fit(sim.formula, duplicated(sim.data), family=family, seed=1)
    a, b = _mean_table(weighted), _mean_table(dup)
    # the same posterior within Monte Carlo error (4000 draws: mcse ~ sd / 40)
    assert (np.abs(a["mean"] - b["mean"]) < 5 * b["sd"] / 40 + 0.01).all()
    assert (np.abs(a["sd"] / b["sd"] - 1) < 0.15).all()


@pytest.mark.sampling
def test_weighted_gaussian_approaches_weighted_least_squares(gaussian_model):
    import statsmodels.api as sm

    from hetfx.priors import Flat

    rng = np.random.default_rng(3)
    n = 4000
    z = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    treat = rng.integers(0, 2, n)
    w = rng.uniform(0.2, 3.0, n)
    y = 0.5 * x + treat * (0.3 + 0.4 * z) + rng.normal(size=n) / np.sqrt(w)
    data = pd.DataFrame({"y": y, "x": x, "z": z, "treat": treat, "w": w})
    flat = {k: Flat() for k in ("alpha", "beta", "a", "lambda")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hetfx.fit(
            "y ~ x | treat : z", data, weights="w", priors=flat, seed=2,
            main_effects=True,
        )  # fmt: skip
    # the interaction model (2 groups, 1 modifier): theta_g = a + z_g lambda
    X = sm.add_constant(np.column_stack([x, z, treat, treat * z]))
    wls = sm.WLS(y, X, weights=w).fit()
    coefs = fit.coefficients().set_index("parameter")["mean"]
    assert coefs["beta[x]"] == pytest.approx(wls.params[1], abs=0.01)
    effects = fit.effects().set_index("group")["mean"]
    assert effects["z=0"] == pytest.approx(wls.params[3], abs=0.01)
    assert effects["z=1"] == pytest.approx(wls.params[3] + wls.params[4], abs=0.01)
    # the weighted ATE: the treated units' weights, not their count
    ate = fit.ate(weighted=True).set_index("treatment").loc["treat", "mean"]
    theta = fit.draws("theta").reshape(-1, 2).mean(axis=0)
    treated = treat == 1
    share = np.bincount(z[treated], weights=w[treated]) / w[treated].sum()
    assert ate == pytest.approx(theta @ share, abs=1e-9)
    unweighted = fit.ate().set_index("treatment").loc["treat", "mean"]
    assert ate != pytest.approx(unweighted, abs=1e-6)
    assert fit.info["weights"] == "w"
