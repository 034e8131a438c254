"""The families' likelihoods: hetfx's numpy log-likelihood against the Stan
programs', merged rows against rows one by one, and a W without columns."""

import numpy as np
import pytest
from scipy import stats

import hetfx
from conftest import check_likelihood, merging_model, short_fit
from hetfx.program.standata import build_stan_input


@pytest.mark.sampling
@pytest.mark.parametrize(
    "family, exposure",
    [(f, True) for f in hetfx.datasets.FAMILIES]
    + [("poisson", False), ("negative_binomial", False)],
)
def test_numpy_log_likelihood_equals_stan(
    family, exposure, uncollapsed_gaussian_model, bernoulli_model, monkeypatch
):
    """hetfx's numpy log-likelihood (PPC, LOO, response checks) against the Stan
    program's own likelihood, at posterior draws, for every family; and the
    Stan likelihood of merged rows against that of the rows one by one (by
    segment where the family's program takes them so, and row by row)."""
    from hetfx.results.checks import log_likelihood

    sim = hetfx.datasets.simulate(n=400, n_modifiers=2, family=family, seed=5)
    if not exposure:  # every exposure 1: no offset, so the rows go by segment
        sim.data["exposure"] = 1.0
    model = merging_model(sim, backend="pystan")
    fit, merged, one_by_one = short_fit(model, sim.data)
    # the negative binomial merges units that share the exposure too: here
    # every exposure differs
    merges = fit.family_obj.exact_aggregation and not (
        family == "negative_binomial" and exposure
    )
    if merges:
        assert merged["N"] < one_by_one["N"] == 400
    if family != "gaussian":
        # the row-wise families take unit rows by segment (5 runs sharing their
        # intercept, 80 rows each; an exposure as one more column of W)
        assert one_by_one["n_segments"] == 5
        # merged rows: a few dozen, too few a segment
        if merges:
            assert merged["n_segments"] == merged["N"]
    numpy_ll = log_likelihood(fit).sum(axis=-1)[0]  # per draw
    check_likelihood(model, fit, merged, one_by_one, numpy_ll)
    if family != "gaussian":
        # the unit rows row by row, each with its own intercept (as runs too
        # short for a segment go): the same likelihood
        from hetfx.program import rows

        monkeypatch.setattr(rows, "by_segment", lambda r, s, m: (r, s))
        row_by_row = build_stan_input(fit.design, fit.family_obj, aggregate=False)
        assert row_by_row.data["n_segments"] == row_by_row.data["N"] == 400
        check_likelihood(model, fit, merged, row_by_row.data, numpy_ll)


NO_COLUMNS = "y ~ 1 | treat : z1 + z2 + z3"  # main_effects=False: W has none


@pytest.mark.sampling
@pytest.mark.parametrize("family", hetfx.datasets.FAMILIES)
def test_likelihood_of_a_w_without_columns(
    family, uncollapsed_gaussian_model, bernoulli_model
):
    """No controls, discrete modifiers and no main effects: every column of W
    is zero (T's, T.*(Z - zbar_g)), so the row-wise programs' W has none.
    Merged rows (Stan's binomial_logit_glm would return 0 for them), rows by
    segment and numpy give the same likelihood (the gaussian's sufficient
    statistics too)."""
    from hetfx.results.checks import log_likelihood

    sim = hetfx.datasets.simulate(
        n=600, n_modifiers=3, n_controls=0, family=family, seed=11
    )
    model = hetfx.HetModel(
        NO_COLUMNS,
        family=sim.family_object,
        backend="pystan",
        main_effects=False,
        collapsed=False if family == "gaussian" else None,
    )
    fit, merged, one_by_one = short_fit(model, sim.data)
    for stan in (merged, one_by_one) if family != "gaussian" else ():
        assert stan["n_w_columns"] == 0 and stan["W"].shape == (stan["N"], 0)
    if family == "bernoulli":  # binomial counts of 9 distinct rows
        assert merged["N"] == 9 and max(merged["trials"]) > 1
    numpy_ll = log_likelihood(fit).sum(axis=-1)[0]
    check_likelihood(model, fit, merged, one_by_one, numpy_ll)


@pytest.mark.sampling
def test_a_design_whose_w_has_no_column_recovers_the_effects(bernoulli_model):
    """The design above, merged into binomial counts, at 2,000 units."""
    sim = hetfx.datasets.simulate(
        n=2000, n_modifiers=3, n_controls=0, family="bernoulli", seed=11
    )
    model = hetfx.HetModel(
        NO_COLUMNS, family="bernoulli", backend="pystan", main_effects=False
    )
    fit = model.fit(sim.data, seed=2, chains=4, iter_warmup=500, iter_sampling=500)
    assert fit.info["aggregated_rows"] == 9
    assert fit.diagnostics()["divergences"] == 0
    # alpha is the control rows' log-odds; the group effects cover the truth
    control = sim.data.loc[sim.data["treat"] == 0, "y"].mean()
    alpha = fit.idata.posterior["alpha"].mean().item()
    assert abs(alpha - np.log(control / (1 - control))) < 0.05
    eff = fit.effects().merge(sim.effects, on=["treatment", "group"])
    assert len(eff) == 8
    covered = (eff["lower"] <= eff["true_effect"]) & (
        eff["true_effect"] <= eff["upper"]
    )
    assert covered.sum() >= stats.binom.ppf(0.001, 8, 0.9), covered.sum()
    # no controls: no beta in the posterior, the tables and LOO without it
    assert fit.coefficients()["parameter"].tolist() == ["alpha"]
    assert np.isfinite(fit.loo().elpd_loo)
