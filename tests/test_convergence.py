"""Diagnostics that tell the truth: per-chain statistics, stuck chains named
with what helps, and a loud warning listing the worst R-hats."""

import copy
import warnings

import numpy as np
import pytest

import hetfx
from hetfx.results.convergence import STUCK_ADVICE, chain_table, messages

pytestmark = pytest.mark.sampling


@pytest.fixture(scope="module")
def fit(gaussian_model):
    sim = hetfx.datasets.simulate(n=1200, n_modifiers=3, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hetfx.HetModel(sim.formula, backend="pystan").fit(
            sim.data, chains=4, iter_warmup=400, iter_sampling=400, seed=2
        )


def _altered(fit):
    """A copy of the fit whose draws can be changed without touching ``fit``."""
    other = copy.copy(fit)
    other.idata = copy.deepcopy(fit.idata)
    return other


def test_chain_table_reports_depth_and_step_size(fit):
    table = fit.diagnostics(by_chain=True)
    assert table["chain"].tolist() == [0, 1, 2, 3]
    for col in ("divergences", "treedepth_share", "mean_treedepth", "step_size"):
        assert col in table.columns
    assert (table["step_size"] > 0).all() and (table["mean_treedepth"] >= 1).all()
    stats = fit.idata.sample_stats
    assert table["mean_treedepth"].tolist() == pytest.approx(
        stats["tree_depth"].values.mean(axis=1).tolist()
    )
    assert "sigma_theta[treat]" in table.columns
    assert (table["stuck"] == "").all()  # a healthy fit
    assert not any("stuck" in m or "R-HAT" in m for m in messages(fit))


def test_a_stuck_chain_is_named_with_what_helps(fit):
    stuck = _altered(fit)
    stats, post = stuck.idata.sample_stats, stuck.idata.posterior
    stats["tree_depth"].values[2, :] = 10
    stats["step_size"].values[2, :] = 1e-4
    post["sigma_theta"].values[2] = 1e-4
    table = chain_table(stuck)
    assert table.loc[table["stuck"] != "", "chain"].tolist() == [2]
    reason = table.loc[2, "stuck"]
    assert "maximum tree depth (10) on 100% of its draws" in reason
    assert "step size 0.0001 is under a tenth" in reason
    assert "sigma_theta[treat] sat near 0" in reason
    with pytest.warns(hetfx.ConvergenceWarning, match="Chain 2 looks stuck"):
        found = stuck.check_convergence()
    assert any(m.endswith(STUCK_ADVICE) for m in found)


def test_high_rhat_is_loud_and_lists_the_worst_parameters(fit):
    apart = _altered(fit)
    theta = apart.idata.posterior["theta"].values
    theta[0, :, 3] += 5.0  # chain 0 disagrees about one group effect
    found = messages(apart)
    loud = [m for m in found if m.startswith("R-HAT IS HIGH")]
    assert len(loud) == 1
    group = apart.idata.posterior["group"].values[3]
    assert f"Worst: theta[{group}]" in loud[0]
    assert not any(m.startswith("Max R-hat") for m in found)
    assert np.isfinite(apart.diagnostics()["max_rhat"])
