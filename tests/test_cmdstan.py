"""End-to-end through cmdstanpy + CmdStan: runs only where CmdStan is installed."""

import warnings

import numpy as np
import pytest

import hetfx
from hetfx.backends import CmdStanBackend, get_backend

pytestmark = pytest.mark.cmdstan


@pytest.fixture(scope="module")
def cmdstan_model():
    ok, why = CmdStanBackend.available()
    if not ok:
        pytest.skip(f"cmdstanpy end-to-end test skipped: {why}")
    model = hetfx.HetModel("y ~ x1 + x2 | treat : z1 + z2 + z3", backend="cmdstanpy")
    model.compile()
    return model


def test_cmdstan_fit_recovers_and_reuses(cmdstan_model):
    sim = hetfx.datasets.simulate(n=2000, n_modifiers=3, seed=31)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        fit = cmdstan_model.fit(sim.data, seed=5, iter_warmup=500, iter_sampling=500)
        again = cmdstan_model.fit(sim.data, seed=5, iter_warmup=500, iter_sampling=500)
        fresh = hetfx.fit(
            sim.formula, sim.data, backend="cmdstanpy", seed=6, iter_sampling=300
        )
    assert fit.backend == "cmdstanpy"
    assert fresh.compiled is False and again.compiled is False
    np.testing.assert_array_equal(fit.draws("theta"), again.draws("theta"))
    ate = fit.ate(prob=0.99).iloc[0]
    assert ate["lower"] <= sim.ate <= ate["upper"]
    eff = fit.effects().merge(sim.effects, on=["treatment", "group"])
    assert len(eff) == 8
    assert fit.diagnostics()["divergences"] == 0


def test_cmdstan_bernoulli(cmdstan_model):
    sim = hetfx.datasets.simulate(
        n=3000, n_modifiers=3, n_controls=0, family="bernoulli", seed=32
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        fit = hetfx.fit(
            sim.formula,
            sim.data,
            family="bernoulli",
            backend="cmdstanpy",
            seed=1,
            iter_warmup=500,
            iter_sampling=500,
        )
    ate = fit.ate(prob=0.99).iloc[0]
    assert ate["lower"] <= sim.ate <= ate["upper"]


def test_forced_backend_missing_gives_advice(monkeypatch):
    monkeypatch.setattr(
        CmdStanBackend, "available", classmethod(lambda cls: (False, "no CmdStan"))
    )
    with pytest.raises(hetfx.BackendError, match="install_cmdstan|CMDSTAN"):
        get_backend("cmdstanpy")


@pytest.mark.parametrize(
    "family",
    ["binomial", "poisson", "negative_binomial", "student_t", "ordinal", "categorical"],
)
def test_cmdstan_every_family(cmdstan_model, family):
    sim = hetfx.datasets.simulate(
        n=2000,
        n_modifiers=3,
        n_controls=1,
        family=family,
        seed=33,
        alpha=0.5 if family in ("poisson", "negative_binomial") else 0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hetfx.HetModel(
            sim.formula, family=sim.family_object, backend="cmdstanpy"
        ).fit(sim.data, seed=2, iter_warmup=500, iter_sampling=500)
    assert fit.backend == "cmdstanpy" and fit.family == family
    ate = fit.ate(prob=0.99)
    truth = (
        [v["ate"] for v in sim.by_category.values()] if sim.by_category else [sim.ate]
    )
    for (_, row), true in zip(ate.iterrows(), truth, strict=True):
        assert row["lower"] <= true <= row["upper"]
    assert np.isfinite(fit.ate(scale="response")["mean"]).all()
