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
    collapsed = _fit(formula, data, None)
    full = _fit(formula, data, False, adapt_delta=0.95)
    assert collapsed.info["program"] == "gaussian_collapsed"
    assert full.info["program"] == "gaussian"
    assert "collapsed=False" in full.info["program_note"]
    assert "coefficients integrated out" in collapsed.summary()
    assert "group effects:" in full.summary() and "collapsed=False" in full.summary()
    for table in ("effects", "modifiers", "coefficients", "ate"):
        _agree(getattr(collapsed, table)(), getattr(full, table)(), table)
    assert collapsed.diagnostics()["divergences"] == 0
    # the same names as the gaussian program, so every table and tool works
    assert set(full.idata.posterior.data_vars) - {"theta_free"} <= set(
        collapsed.idata.posterior.data_vars
    )


@pytest.mark.sampling
def test_collapsed_reproduces_and_student_t_priors_use_the_full_program(
    gaussian_model, uncollapsed_gaussian_model
):
    formula, data = robustness_design("rich8", "gaussian", seed=3)
    one, two = (_fit(formula, data, None, seed=5) for _ in range(2))
    np.testing.assert_array_equal(
        one.idata.posterior["theta"].values, two.idata.posterior["theta"].values
    )
    robust = hetfx.HetModel(formula, priors={"lambda": StudentT(3, 0, 1)})
    assert robust.program_name == "gaussian"
    with pytest.raises(hetfx.OptionError, match="lambda=StudentT"):
        hetfx.HetModel(formula, priors={"lambda": StudentT(3, 0, 1)}, collapsed=True)
    with pytest.raises(hetfx.OptionError, match="needs the gaussian family"):
        hetfx.HetModel(formula, family="bernoulli", collapsed=True)
