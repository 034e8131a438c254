"""Groups given by a variable (sites): grammar, checks, both design paths, and
recovery of site effects and site-level lambdas on a simulated multi-site trial."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hetfx
from hetfx.batch.jobs import as_job
from hetfx.program.standata import build_stan_input

FORMULA = "y ~ x + C(site) | treat : gdp + ideology ~ site"


def design(formula=FORMULA, data=None, **options):
    data = hetfx.datasets.simulate_sites(seed=3).data if data is None else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        return hetfx.HetModel(formula, main_effects=False, **options).design(data)


def test_formula_and_groups_argument_give_one_design():
    by_formula = design()
    by_argument = design(
        "y ~ x + C(site) | treat : gdp + ideology", groups={"treat": "site"}
    )
    assert by_argument.spec == by_formula.spec
    assert by_formula.formula.text == FORMULA
    eq = by_formula.equations[0]
    assert eq.group_by == "site" and eq.n_groups == 40
    table = by_formula.group_table()
    assert table.columns.tolist() == [
        "treatment", "group", "site", "gdp", "ideology", "n_treated", "n",
    ]  # fmt: skip
    # zbar_g is the site's value of its predictors; no within-site deviations
    np.testing.assert_allclose(eq.group_means(), table[["gdp", "ideology"]])
    assert by_formula.layout.G == 40 and by_formula.layout.L == 2
    with pytest.raises(hetfx.OptionError, match="grouped by 'site' in the formula"):
        design(groups={"treat": "gdp2"})
    with pytest.raises(hetfx.OptionError, match="'arm', which is not a treatment"):
        design(groups={"arm": "site"})


def test_site_checks_and_warnings():
    data = hetfx.datasets.simulate_sites(n_sites=6, seed=4).data
    varying = data.assign(gdp=data["gdp"] + np.arange(len(data)) % 2)
    with pytest.raises(hetfx.DataError, match="'gdp' vary within groups"):
        design(data=varying)
    untreated = data.assign(treat=np.where(data["site"] == "s01", 0, data["treat"]))
    untreated.loc[untreated["site"] == "s02", "treat"] = 1
    with pytest.warns(hetfx.GroupingWarning) as caught:
        hetfx.groups("y ~ x | treat : gdp ~ site", untreated)
    text = " ".join(str(w.message) for w in caught)
    assert "1 of 6 values of 'site' have no treated units" in text
    assert "1 of 6 values of 'site' have no control units" in text
    with pytest.raises(hetfx.FormulaError, match="must be one variable name"):
        hetfx.HetModel("y ~ x | treat : gdp ~ site + region")


def test_partitioned_path_builds_the_same_site_design():
    dd = pytest.importorskip("dask.dataframe")
    from hetfx.design.partitions import summarise_partitions

    data = hetfx.datasets.simulate_sites(seed=5).data
    memory = design(data=data)
    model = hetfx.HetModel(FORMULA, main_effects=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts, summary = summarise_partitions(
            model.parsed, dd.from_pandas(data, npartitions=4), model.design_options
        )
        a = build_stan_input(memory, model.family).data
        b = build_stan_input(parts, model.family, summary=summary).data
    assert parts.spec == memory.spec
    pd.testing.assert_frame_equal(
        parts.group_table(), memory.group_table(), check_dtype=False
    )
    for key in ("WtW", "Wty", "z_group", "ate_weight", "z_mean", "z_scale"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-8, atol=1e-8, err_msg=key)
    varying = data.assign(gdp=data["gdp"] + np.arange(len(data)) % 2)
    with pytest.raises(hetfx.DataError, match="'gdp' vary within groups"):
        summarise_partitions(
            model.parsed, dd.from_pandas(varying, npartitions=4), model.design_options
        )


def test_batch_jobs_take_groups():
    job = as_job(
        {
            "name": "sites",
            "data": "trial.csv",
            "formula": "y ~ x | treat : gdp ~ site",
            "groups": {"treat": "site"},
        }
    )
    model = hetfx.HetModel(**job.model_spec())
    assert model.parsed.parts[0].group_by == "site"


@pytest.mark.sampling
def test_multi_site_trial_recovers_site_effects_and_lambdas(gaussian_model):
    sim = hetfx.datasets.simulate_sites(seed=7)
    model = hetfx.HetModel(sim.formula, main_effects=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        fit = model.fit(sim.data, seed=2)
    assert fit.diagnostics()["divergences"] == 0
    effects = fit.effects().merge(sim.effects, on=["treatment", "group"])
    assert len(effects) == 40
    covered = (effects["lower"] <= effects["true_effect"]) & (
        effects["true_effect"] <= effects["upper"]
    )
    assert covered.sum() >= stats.binom.ppf(0.001, 40, 0.9), covered.sum()
    mods = fit.modifiers(prob=0.99).set_index("parameter")
    for name, true in sim.lambda_.items():
        assert mods.loc[name, "lower"] <= true <= mods.loc[name, "upper"], name
    # a new site with given predictors: the regression's prediction, wider
    new = pd.DataFrame(
        {"x": [0.0], "treat": [1], "site": ["new"], "gdp": [1.0], "ideology": [-1.0]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = fit.predict(new)
    a_mean = mods.loc["intercept", "mean"]
    expected = a_mean + mods.loc["gdp", "mean"] - mods.loc["ideology", "mean"]
    assert abs(pred["mean"].iloc[0] - expected) < 0.1
    assert pred["upper"].iloc[0] - pred["lower"].iloc[0] > 2 * 1.645 * 0.1
    ols = fit.ols()  # site by treatment interactions
    assert len(ols) == 40 and np.isfinite(ols["mean"]).all()


def test_command_line_groups_by_a_variable(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "trial.csv"
    hetfx.datasets.simulate_sites(n_sites=5, seed=1).data.to_csv(path, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "hetfx.cli", "groups", str(path)]
        + ["--formula", "y ~ x | treat : gdp + ideology", "--groups", "treat=site"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "site=s05" in done.stdout and "ideology" in done.stdout
