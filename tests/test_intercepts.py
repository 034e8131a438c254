"""Varying intercepts in the outcome equation, ``(1 | respondent)``: grammar,
Stan data, the likelihood against numpy, and recovery on a simulated conjoint."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hetfx
from conftest import check_likelihood, short_fit
from hetfx.batch.jobs import as_job
from hetfx.design.build import build_design
from hetfx.design.spec import ModelSpec
from hetfx.program.standata import build_stan_input


def test_grammar_and_design():
    sim = hetfx.datasets.simulate_conjoint(n_respondents=30, n_tasks=4, seed=2)
    data = sim.data.assign(site=sim.data["respondent"].str[-1])
    design = build_design("y ~ x + (1 | site/respondent) | treat : z1", data)
    assert [f.name for f in design.factors] == ["site", "site:respondent"]
    site, nested = design.factors
    assert site.n_levels == 10 and nested.n_levels == 30
    np.testing.assert_array_equal(
        np.asarray(site.levels)[site.index], data["site"].astype(str)
    )
    assert ModelSpec.from_json(design.spec.to_json()) == design.spec
    with pytest.raises(hetfx.FormulaError, match="varying slopes"):
        hetfx.HetModel("y ~ x + (x | respondent) | treat : z1")
    categorical = hetfx.HetModel(
        "y ~ x + (1 | respondent) | treat : z1", family="categorical"
    )
    assert categorical.program_name == "categorical"
    with pytest.raises(hetfx.OptionError, match="at most one varying intercept"):
        hetfx.HetModel("y ~ (1 | site/respondent) | treat : z1", collapsed=True)
    with pytest.raises(hetfx.PriorError, match="sd_respondent"):
        hetfx.HetModel(
            "y ~ (1 | respondent) | treat : z1",
            priors={"sd_site": hetfx.priors.HalfNormal(1)},
        )
    model = hetfx.HetModel(
        "y ~ x + (1 | respondent) | treat : z1",
        priors={"sd_respondent": hetfx.priors.HalfNormal(0.3)},
    )
    assert model.program_name == "gaussian_collapsed" and model.collapsed
    job = as_job({"name": "c", "data": "c.csv", "formula": model.formula})
    assert hetfx.HetModel(**job.model_spec()).program_name == "gaussian_collapsed"
    crossed = "y ~ x + (1 | respondent) + (1 | item) | treat : z1"
    job = as_job({"name": "c", "data": "c.csv", "formula": crossed})
    assert hetfx.HetModel(**job.model_spec()).program_name == "gaussian_rows"


def test_stan_data_index_the_levels_and_merging_keeps_them_apart():
    sim = hetfx.datasets.simulate_conjoint(n_respondents=40, n_tasks=5, seed=3)
    data = sim.data.assign(x=(sim.data["x"] > 0).astype(float))
    data["y"] = (data["y"] > 0).astype(int)
    formula = "y ~ x + (1 | respondent) | treat : z1 + z2"
    fam = hetfx.families.get_family("bernoulli")
    design = build_design(formula, data)
    merged = build_stan_input(design, fam).data
    rows = build_stan_input(design, fam, aggregate=False).data
    assert merged["n_factors"] == 1 and merged["n_levels"] == 40
    np.testing.assert_array_equal(rows["level_index"][0], design.factors[0].index + 1)
    # merged rows never mix respondents: each keeps one level
    assert merged["N"] < rows["N"]
    key = pd.DataFrame({"level": rows["level_index"][0], "y": rows["y"]})
    per_level = key.groupby("level")["y"].sum().sort_index().to_numpy()
    merged_sum = (
        pd.DataFrame({"level": merged["level_index"][0], "y": merged["y"]})
        .groupby("level")["y"]
        .sum()
        .sort_index()
        .to_numpy()
    )
    np.testing.assert_array_equal(per_level, merged_sum)
    priors = build_stan_input(design, fam).priors
    sd = [r for r in priors if r.slot == "sd_respondent"]
    assert len(sd) == 1 and sd[0].source == "default (autoscaled)"


@pytest.mark.sampling
@pytest.mark.parametrize(
    "family", ["gaussian", "bernoulli", "poisson", "ordinal", "categorical"]
)
def test_stan_likelihood_with_intercepts_equals_numpy(family, bernoulli_model):
    from hetfx.results.checks import log_likelihood

    sim = hetfx.datasets.simulate(n=300, n_modifiers=2, family=family, seed=4)
    sim.data["respondent"] = np.arange(300) % 25
    for x in ("x1", "x2"):
        sim.data[x] = (sim.data[x] > 0).astype(float)
    formula = sim.formula.replace(" |", " + (1 | respondent) |", 1)
    # gaussian: the row-wise program (the collapsed one integrates b out; its
    # marginal is checked in test_collapsed.py)
    collapsed = False if family == "gaussian" else None
    model = hetfx.HetModel(formula, family=sim.family_object, collapsed=collapsed)
    assert model.program_name == "gaussian_rows" or family != "gaussian"
    fit, merged, one_by_one = short_fit(model, sim.data)
    post = fit.idata.posterior
    assert post["b"].sizes["level"] == 25 and post["sd_factor"].sizes["factor"] == 1
    # bernoulli rows merge only where that leaves fewer than 0.65 of them
    # (BERNOULLI_ROW_COST): within 25 levels these do not
    assert merged["N"] < one_by_one["N"] or family in ("gaussian", "bernoulli")
    numpy_ll = log_likelihood(fit).sum(axis=-1)[0]
    check_likelihood(model, fit, merged, one_by_one, numpy_ll)
    assert "sd_respondent" in set(fit.coefficients()["parameter"])
    table = fit.intercepts()
    assert len(table) == 25 * (2 if family == "categorical" else 1)
    assert ("category" in table.columns) == (family == "categorical")


@pytest.mark.sampling
def test_conjoint_recovers_group_effects_and_respondent_sd(gaussian_model, tmp_path):
    sim = hetfx.datasets.simulate_conjoint(n_respondents=500, n_tasks=6, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        fit = hetfx.fit(sim.formula, sim.data, seed=1)
        flat = hetfx.fit(sim.formula.replace(" + (1 | respondent)", ""), sim.data)
    assert fit.info["program"] == "gaussian_collapsed"
    assert fit.diagnostics()["divergences"] == 0
    effects = fit.effects().merge(sim.effects, on=["treatment", "group"])
    assert len(effects) == 8
    covered = (effects["lower"] <= effects["true_effect"]) & (
        effects["true_effect"] <= effects["upper"]
    )
    assert covered.sum() >= stats.binom.ppf(0.001, 8, 0.9), covered.sum()
    sd = fit.coefficients(prob=0.99).set_index("parameter").loc["sd_respondent"]
    assert sd["lower"] <= sim.intercept_sd["respondent"] <= sd["upper"]
    levels = fit.intercepts("respondent")
    assert len(levels) == 500 and levels["factor"].eq("respondent").all()
    # the model without the respondents' intercepts, on the same data (shown)
    width = (fit.effects()["upper"] - fit.effects()["lower"]).mean()
    flat_width = (flat.effects()["upper"] - flat.effects()["lower"]).mean()
    print(f"mean 90% width: with intercepts {width:.3f}, without {flat_width:.3f}")
    # a known respondent's expected outcome uses its intercept; a new one's
    # interval carries the respondents' spread, or sits at the average ("zero")
    rows = sim.data.head(1)
    new = rows.assign(respondent="someone new")
    known = fit.predict(rows, kind="outcome")
    sampled = fit.predict(new, kind="outcome", new_levels="sample")
    zero = fit.predict(new, kind="outcome", new_levels="zero")
    width_of = {k: float(t["upper"].iloc[0] - t["lower"].iloc[0]) for k, t in
                {"known": known, "sampled": sampled, "zero": zero}.items()}  # fmt: skip
    assert width_of["sampled"] > width_of["zero"] and width_of["sampled"] > 0.3
    b = levels.set_index("level").loc[rows["respondent"].iloc[0], "mean"]
    assert known["mean"].iloc[0] - zero["mean"].iloc[0] == pytest.approx(b, abs=0.02)
    with pytest.raises(hetfx.OptionError, match="new_levels must be"):
        fit.predict(new, kind="outcome", new_levels="drop")
    # saved and loaded: the factors and their levels come back
    loaded = hetfx.load(fit.save(tmp_path / "fit"))
    assert loaded.spec == fit.spec and loaded.spec.factors[0].name == "respondent"
    pd.testing.assert_frame_equal(loaded.intercepts(), fit.intercepts())
