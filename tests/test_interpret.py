"""Interpretation: OLS baseline, contrasts, prediction, checks, plots, saving."""

import warnings

import numpy as np
import pandas as pd
import pytest

import hetfx
from hetfx import OptionError

pytestmark = pytest.mark.sampling


def _fit(model, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opts = {"chains": 4, "iter_warmup": 500, "iter_sampling": 500, "seed": 1}
        return model.fit(data, **{**opts, **kw})


@pytest.fixture(scope="module")
def sim():
    return hetfx.datasets.simulate(n=2000, n_modifiers=4, seed=3)


@pytest.fixture(scope="module")
def fit(gaussian_model, sim):
    return _fit(hetfx.HetModel(sim.formula, backend="pystan"), sim.data)


def test_ols_interactions_against_hand_computed_hc2():
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "t": rng.integers(0, 2, n),
            "z": rng.integers(0, 3, n),
        }
    )
    df["y"] = 1 + 0.5 * df["x"] + df["t"] * (0.2 * df["z"]) + rng.normal(size=n)
    out = hetfx.ols_interactions("y ~ x | t : C(z)", df, prob=0.95)
    # by hand: [1, x, z=1, z=2, t*1{z=0}, t*1{z=1}, t*1{z=2}]
    z = df["z"].to_numpy()
    t = df["t"].to_numpy(dtype=float)
    W = np.column_stack(
        [np.ones(n), df["x"], z == 1, z == 2, t * (z == 0), t * (z == 1), t * (z == 2)]
    ).astype(float)
    XtX_inv = np.linalg.inv(W.T @ W)
    beta = XtX_inv @ W.T @ df["y"].to_numpy()
    resid = df["y"].to_numpy() - W @ beta
    h = np.einsum("ij,jk,ik->i", W, XtX_inv, W)
    meat = W.T @ (W * (resid**2 / (1 - h))[:, None])
    se = np.sqrt(np.diag(XtX_inv @ meat @ XtX_inv))
    np.testing.assert_allclose(out["mean"], beta[4:], rtol=1e-8)
    np.testing.assert_allclose(out["sd"], se[4:], rtol=1e-8)
    np.testing.assert_allclose(out["upper"] - out["mean"], 1.959964 * se[4:], rtol=1e-5)
    assert out["group"].tolist() == ["z=0", "z=1", "z=2"]
    assert out.columns[:6].tolist() == [
        "treatment",
        "group",
        "z",
        "n_treated",
        "n",
        "mean",
    ]


def test_hierarchical_beats_ols_with_64_small_groups(gaussian_model):
    sim = hetfx.datasets.simulate(
        n=3840, n_modifiers=6, seed=8, a=0.2, lambda_=0.0, sigma_theta=0.3
    )
    fit = _fit(hetfx.HetModel(sim.formula, backend="pystan"), sim.data)
    comp = fit.compare_ols().merge(sim.effects, on=["treatment", "group"])
    assert len(comp) == 64 and comp["n_treated"].median() < 40
    rmse_hier = np.sqrt(np.mean((comp["mean"] - comp["true_effect"]) ** 2))
    rmse_ols = np.sqrt(np.mean((comp["ols"] - comp["true_effect"]) ** 2))
    assert rmse_hier < 0.85 * rmse_ols, (rmse_hier, rmse_ols)
    assert comp["shrinkage"].median() > 0.2


def test_compare_ols_columns(fit):
    comp = fit.compare_ols()
    for col in (
        "mean",
        "lower",
        "upper",
        "ols",
        "ols_lower",
        "ols_upper",
        "n_treated",
        "prediction",
        "shrinkage",
        "shrinkage_clipped",
        "same_sign",
        "scale",
    ):
        assert col in comp.columns
    assert (comp["scale"] == "link: outcome units").all()
    # the prediction a + zbar_g lambda that pooling pulls each group towards
    mods = fit.modifiers().set_index("parameter")["mean"]
    eq = fit.design.equations[0]
    zbar = eq.group_means()
    expected = mods["intercept"] + zbar @ mods[eq.z_names].to_numpy()
    np.testing.assert_allclose(comp["prediction"], expected, rtol=1e-8)
    # shrinkage: the share of the OLS estimate's distance from it that pooling
    # removes, always within [0, 1]
    share = 1 - (comp["mean"] - comp["prediction"]) / (comp["ols"] - comp["prediction"])
    defined = comp["shrinkage"].notna()
    assert defined.sum() >= 12 and comp["shrinkage"][defined].between(0, 1).all()
    np.testing.assert_allclose(
        comp.loc[defined, "shrinkage"], share[defined].clip(0, 1), rtol=1e-12
    )
    assert (comp["shrinkage_clipped"] == (defined & ~share.between(0, 1))).all()
    # the OLS baseline is the fully interacted model unless asked otherwise
    assert (comp["ols"] == fit.ols()["mean"]).all()
    linear = fit.compare_ols(baseline="linear")
    assert (linear["ols"] == fit.ols(baseline="linear")["mean"]).all()


def test_intercept_at_means_and_extrapolation_warning(fit, sim):
    mods = fit.modifiers().set_index("parameter")
    assert mods.loc["intercept_at_means", "mean"] == pytest.approx(
        float(fit.idata.posterior["a_centred"].mean())
    )
    applies = fit.prior_summary().set_index("parameter").loc["a", "applies_to"]
    assert "intercept_at_means" in str(applies)
    new = sim.data.head(3).copy()
    new["z1"] = [0, 1, 7]  # 7 lies outside the training values 0..1
    with pytest.warns(hetfx.ExtrapolationWarning, match="'z1' outside its training"):
        fit.predict(new)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.predict(sim.data.head(3))  # inside the range: no warning


def test_partial_contrasts_average_the_matching_groups(fit):
    eff = fit.effects()
    table, draws = hetfx.results.contrasts.group_draws(fit)

    def average(z1):
        rows = np.flatnonzero(table["z1"].astype(int) == z1)
        w = table["n_treated"].to_numpy(dtype=float)[rows]
        return (draws[..., rows] * (w / w.sum())).sum(axis=-1).mean()

    con = fit.contrast("z1=1", "z1=0")
    assert con["mean"].item() == pytest.approx(average(1) - average(0))
    assert con["groups_a"].item() == 8 and con["groups_b"].item() == 8
    assert con["weighting"].item() == "treated units"
    assert con["contrast"].item() == "z1=1 - z1=0"
    same = fit.contrast({"z1": 1}, {"z1": 0})
    assert same["mean"].item() == pytest.approx(con["mean"].item())
    two = fit.contrast("z1=1, z2=0", "treat | z1=0, z2=0")
    assert two["groups_a"].item() == 4
    full = eff["group"].iloc[0]
    assert fit.contrast(full, full)["weighting"].item() == "none"
    with pytest.raises(OptionError, match="'age' in group 'age=3' is not a modifier"):
        fit.contrast("age=3", "z1=0")


def test_contrast_and_by_modifier(fit):
    eff = fit.effects().set_index("group")
    a, b = "z1=1, z2=1, z3=1, z4=1", "z1=0, z2=0, z3=0, z4=0"
    con = fit.contrast(a, b)
    assert con["contrast"].item() == f"{a} - {b}"
    assert con["mean"].item() == pytest.approx(eff.loc[a, "mean"] - eff.loc[b, "mean"])
    assert 0.5 <= con["prob_direction"].item() <= 1
    same = fit.contrast(f"treat | {a}", b)
    assert same["mean"].item() == pytest.approx(con["mean"].item())
    with pytest.raises(OptionError, match="No group 'z1=7'"):
        fit.contrast("z1=7", b)
    by = fit.by_modifier()
    z1 = by[(by["modifier"] == "z1") & (by["kind"] == "average")].set_index("value")
    groups = fit.effects()
    for value in ("0", "1"):
        sub = groups[groups["z1"].astype(str) == value]
        weighted = np.average(sub["mean"], weights=sub["n_treated"])
        assert z1.loc[value, "mean"] == pytest.approx(weighted)
    diff = by[(by["modifier"] == "z1") & (by["kind"] == "difference")]
    assert diff["mean"].item() == pytest.approx(
        z1.loc["1", "mean"] - z1.loc["0", "mean"]
    )


def test_prediction_for_a_seen_group_matches_its_effect(fit, sim):
    treated = sim.data[sim.data["treat"] == 1].head(5)
    pred = fit.predict(treated)
    eff = fit.effects().set_index("group")
    assert pred["seen"].all()
    np.testing.assert_allclose(
        pred["mean"].to_numpy(), eff.loc[pred["group"], "mean"].to_numpy(), rtol=1e-10
    )
    draws = fit.predict(treated, draws=True)
    assert draws.shape == (2000, 5)
    outcome = fit.predict(treated, kind="outcome")
    assert outcome.shape[0] == 5 and np.isfinite(outcome["mean"]).all()
    with pytest.raises(OptionError, match="kind must be"):
        fit.predict(treated, kind="effects")


def test_prediction_for_an_unseen_group_is_wider(gaussian_model, sim):
    cell = (sim.data[["z1", "z2", "z3", "z4"]] == 1).all(axis=1)
    train = sim.data[~(cell & (sim.data["treat"] == 1))]
    fit = _fit(hetfx.HetModel(sim.formula, backend="pystan"), train)
    assert "z1=1, z2=1, z3=1, z4=1" not in fit.effects()["group"].tolist()
    new = sim.data[cell].head(1)
    pred = fit.predict(new)
    assert pred["seen"].item() is False and pred["group"].item() == "(new group)"
    seen_width = (fit.effects()["upper"] - fit.effects()["lower"]).max()
    assert (pred["upper"] - pred["lower"]).item() > seen_width


def test_ppc_and_loo_gaussian(fit, sim):
    table = fit.ppc(ndraws=100)
    assert table["statistic"].iloc[0] == "sd"
    assert {"observed", "replicated", "lower", "upper", "p_value"} <= set(table.columns)
    assert (table["p_value"].between(0, 1)).all()
    mean_row = table[table["statistic"] == "mean"].iloc[0]
    assert mean_row["observed"] == pytest.approx(sim.data["y"].mean())
    loo = fit.loo()
    assert np.isfinite(loo["elpd_loo"]) and loo["n_data_points"] == 2000
    assert loo.loo_i.shape == (2000,)
    # the draws hetfx computed live in fit.idata, for arviz's own tools
    import arviz as az

    groups = set(fit.idata.groups())
    assert {"posterior_predictive", "log_likelihood", "observed_data"} <= groups
    assert fit.idata.posterior_predictive["y"].shape == (1, 100, 2000)
    np.testing.assert_allclose(fit.idata.observed_data["y"], sim.data["y"])
    assert az.loo(fit.idata)["elpd_loo"] == pytest.approx(loo["elpd_loo"])
    ax = az.plot_ppc(fit.idata, num_pp_samples=20)
    assert np.size(ax) >= 1


def test_loo_bernoulli_and_compare(bernoulli_model):
    sim = hetfx.datasets.simulate(n=1500, n_modifiers=3, family="bernoulli", seed=2)
    model = hetfx.HetModel(sim.formula, family="bernoulli", backend="pystan")
    full = _fit(model, sim.data)
    fewer = _fit(
        hetfx.HetModel(
            "y ~ x1 + x2 | treat : z1", family="bernoulli", backend="pystan"
        ),
        sim.data,
    )
    loo = full.loo()
    assert loo["n_data_points"] == 1500 and np.isfinite(loo["elpd_loo"])
    # pointwise log-likelihood of a 0/1 outcome is negative
    assert (loo.loo_i.values < 0).all()
    table = hetfx.compare({"z1..z3": full, "z1": fewer})
    assert set(table.index) == {"z1..z3", "z1"} and "elpd_loo" in table.columns
    assert full.ppc(ndraws=50)["statistic"].str.contains("treated mean").any()


def test_plots_render(fit, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, kwargs in [
        ("plot_effects", {"ols": True}),
        ("plot_modifiers", {}),
        ("plot_shrinkage", {}),
        ("plot_ppc", {"ndraws": 50}),
    ]:
        ax = getattr(fit, name)(**kwargs)
        path = tmp_path / f"{name}.png"
        ax.figure.savefig(path, dpi=60)
        plt.close(ax.figure)
        assert path.stat().st_size > 5000
    fig, ax = plt.subplots()
    assert fit.plot_modifiers(ax=ax) is ax
    plt.close(fig)


def test_save_load_round_trip(fit, sim, tmp_path):
    path = fit.save(tmp_path / "fit")
    loaded = hetfx.load(path)
    for method in (
        "effects",
        "modifiers",
        "coefficients",
        "ate",
        "prior_summary",
        "compare_ols",
        "by_modifier",
    ):
        pd.testing.assert_frame_equal(getattr(loaded, method)(), getattr(fit, method)())
    pd.testing.assert_series_equal(loaded.diagnostics(), fit.diagnostics())
    new = sim.data.head(4)
    pd.testing.assert_frame_equal(loaded.predict(new), fit.predict(new))
    pd.testing.assert_frame_equal(
        loaded.contrast("z1=1, z2=1, z3=1, z4=1", "z1=0, z2=0, z3=0, z4=0"),
        fit.contrast("z1=1, z2=1, z3=1, z4=1", "z1=0, z2=0, z3=0, z4=0"),
    )
    assert loaded.formula == fit.formula and loaded.seed == fit.seed
    assert loaded.design.frame.empty  # the data frame itself is not saved
    with pytest.raises(hetfx.DataError, match="not a saved hetfx fit"):
        hetfx.load(tmp_path)


def test_bernoulli_compares_with_ols_in_probability_points(bernoulli_model):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim = hetfx.datasets.simulate(n=1500, n_modifiers=2, family="bernoulli", seed=5)
    model = hetfx.HetModel(sim.formula, family="bernoulli", backend="pystan")
    fit = _fit(model, sim.data, chains=2)
    comp = fit.compare_ols()
    assert (comp["scale"] == "response: probability points").all()
    np.testing.assert_allclose(comp["mean"], fit.effects(scale="response")["mean"])
    lpm = hetfx.ols_interactions(sim.formula, sim.data)  # linear probability model
    np.testing.assert_allclose(comp["ols"], lpm["mean"])
    assert comp[["mean", "ols", "prediction"]].abs().to_numpy().max() <= 1
    assert comp["shrinkage"].dropna().between(0, 1).all()
    with pytest.raises(OptionError, match="compare on scale='response'"):
        fit.compare_ols(scale="link")
    ax = fit.plot_effects(ols=True)
    assert "probability points" in ax.get_xlabel()
    plt.close(ax.figure)
    ax = fit.plot_effects(scale="response")
    assert "probability points" in ax.get_xlabel()
    plt.close(ax.figure)
    text = str(fit)
    assert "effects on the link scale: log-odds (logit link)" in text
    lines = text.splitlines()
    ate_row = lines[lines.index(next(x for x in lines if x.startswith("Average"))) + 2]
    assert ate_row.split()[-1].isdigit()  # ESS printed as a whole number
