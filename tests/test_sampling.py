"""Real sampling through the pystan backend (compiled once per session)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hetfx
from hetfx import ConvergenceWarning, SamplingError
from hetfx.design.build import build_design
from hetfx.families import get_family
from hetfx.program.standata import build_stan_input
from hetfx.results.summary import STAT_COLUMNS

pytestmark = pytest.mark.sampling
FAST = {"chains": 4, "iter_warmup": 500, "iter_sampling": 500}


def _coverage_floor(n: int, level: float = 0.9) -> int:
    """Fewest covered groups consistent with `level` (binomial 0.1% tail)."""
    return int(stats.binom.ppf(0.001, n, level))


def _quiet_fit(model, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        return model.fit(data, **{**FAST, **kw})


def _check_recovery(fit, sim):
    eff = fit.effects().merge(sim.effects, on=["treatment", "group"])
    assert len(eff) == len(sim.effects)
    covered = (
        (eff["lower"] <= eff["true_effect"]) & (eff["true_effect"] <= eff["upper"])
    ).sum()
    assert covered >= _coverage_floor(len(eff)), f"{covered} of {len(eff)} covered"
    ate = fit.ate(prob=0.99).iloc[0]
    assert ate["lower"] <= sim.ate <= ate["upper"]
    mods = fit.modifiers(prob=0.99).set_index("parameter")
    for name, true in sim.lambda_.items():
        assert mods.loc[name, "lower"] <= true <= mods.loc[name, "upper"], name
    assert fit.diagnostics()["divergences"] == 0
    return eff


def test_gaussian_recovery(gaussian_model):
    sim = hetfx.datasets.simulate(
        n=3000, n_modifiers=5, seed=11, lambda_=[0.4, -0.3, 0.2, 0.0, 0.3]
    )
    model = hetfx.HetModel(sim.formula, backend="pystan")
    fit = _quiet_fit(model, sim.data, seed=1)
    eff = _check_recovery(fit, sim)
    assert len(eff) == 32
    assert fit.backend == "pystan"
    mods = fit.modifiers().set_index("parameter")
    assert 0.1 < mods.loc["sigma_theta", "mean"] < 0.6
    coefs = fit.coefficients(prob=0.99).set_index("parameter")
    for name, true in sim.beta.items():
        assert (
            coefs.loc[f"beta[{name}]", "lower"]
            <= true
            <= coefs.loc[f"beta[{name}]", "upper"]
        )
    assert coefs.loc["sigma", "lower"] <= 1.0 <= coefs.loc["sigma", "upper"]


def test_bernoulli_recovery(bernoulli_model):
    sim = hetfx.datasets.simulate(
        n=8000,
        n_modifiers=5,
        n_controls=0,
        family="bernoulli",
        seed=5,
        a=-0.2,
        lambda_=[0.5, -0.4, 0.3, 0.0, 0.2],
        sigma_theta=0.3,
    )
    model = hetfx.HetModel(sim.formula, family="bernoulli", backend="pystan")
    fit = _quiet_fit(model, sim.data, seed=2)
    assert fit.info["aggregated_rows"] <= 64  # 32 cells x treated/control
    _check_recovery(fit, sim)


def test_tables_follow_the_public_contract(gaussian_model):
    sim = hetfx.datasets.simulate(n=800, n_modifiers=2, seed=3)
    fit = _quiet_fit(gaussian_model, sim.data, seed=3)
    eff = fit.effects()
    assert eff.columns.tolist() == [
        "treatment",
        "group",
        "z1",
        "z2",
        "n_treated",
        "n",
        *STAT_COLUMNS,
    ]
    assert fit.modifiers().columns.tolist() == ["treatment", "parameter", *STAT_COLUMNS]
    assert fit.modifiers()["parameter"].tolist() == [
        "intercept",
        "intercept_at_means",
        "z1",
        "z2",
        "sigma_theta",
    ]
    assert fit.coefficients()["parameter"].tolist() == [
        "alpha",
        "beta[x1]",
        "beta[x2]",
        "beta[z1]",
        "beta[z2]",
        "sigma",
    ]
    assert fit.ate().columns.tolist() == ["treatment", "parameter", *STAT_COLUMNS]
    narrow, wide = fit.effects(prob=0.5), fit.effects(prob=0.95)
    assert (wide["upper"] - wide["lower"] > narrow["upper"] - narrow["lower"]).all()
    diag = fit.diagnostics()
    for key in (
        "divergences",
        "max_rhat",
        "min_ess_bulk",
        "min_ess_tail",
        "treedepth_hits",
    ):
        assert key in diag.index
    post = fit.idata.posterior
    assert list(post["theta"].dims) == ["chain", "draw", "group"]
    assert post["theta"].coords["group"].values[0] == "treat | z1=0, z2=0"
    assert set(fit.prior_summary()["parameter"]) == {
        "alpha",
        "beta",
        "a",
        "lambda",
        "sigma_theta",
        "sigma",
    }
    text = str(fit)
    assert "Average treatment effects" in text and "z1=1, z2=1" in text
    assert "<table" in fit._repr_html_()
    with pytest.raises(hetfx.OptionError, match="prob must be between 0 and 1"):
        fit.effects(prob=90)


def test_identification_shift_moves_a_not_lambda(gaussian_model):
    sim = hetfx.datasets.simulate(n=3000, n_modifiers=4, seed=4)
    shifted = sim.data.copy()
    shifted.loc[shifted["treat"] == 1, "y"] += 2.0
    priors = {
        "alpha": hetfx.priors.Normal(0, 20),
        "a": hetfx.priors.Normal(0, 20),
        "beta": hetfx.priors.Normal(0, 10),
        "lambda": hetfx.priors.Normal(0, 10),
        "sigma_theta": hetfx.priors.HalfNormal(1),
        "sigma": hetfx.priors.Exponential(1),
    }
    model = hetfx.HetModel(sim.formula, priors=priors, backend="pystan")
    base = _quiet_fit(model, sim.data, seed=9).modifiers().set_index("parameter")
    moved = _quiet_fit(model, shifted, seed=9).modifiers().set_index("parameter")
    assert moved.loc["intercept", "mean"] - base.loc[
        "intercept", "mean"
    ] == pytest.approx(2.0, abs=0.06)
    for name in ("z1", "z2", "z3", "z4"):
        assert moved.loc[name, "mean"] == pytest.approx(
            base.loc[name, "mean"], abs=0.06
        )


def test_same_seed_same_draws(gaussian_model):
    sim = hetfx.datasets.simulate(n=500, n_modifiers=2, seed=6)
    kw = {"chains": 2, "iter_warmup": 150, "iter_sampling": 100}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = gaussian_model.fit(sim.data, seed=42, **kw)
        f2 = gaussian_model.fit(sim.data, seed=42, **kw)
        f3 = gaussian_model.fit(sim.data, seed=43, **kw)
    assert f1.seed == 42
    np.testing.assert_array_equal(f1.draws("theta"), f2.draws("theta"))
    assert not np.array_equal(f1.draws("theta"), f3.draws("theta"))


def test_compiled_program_is_reused(gaussian_model, tmp_path):
    first = hetfx.datasets.simulate(n=600, n_modifiers=3, n_controls=1, seed=8)
    second = hetfx.datasets.simulate(n=900, n_modifiers=3, n_controls=1, seed=7)
    model = hetfx.HetModel(first.formula, backend="pystan")  # same family, new model
    kw = {"seed": 1, "chains": 2, "iter_warmup": 200, "iter_sampling": 200}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = model.fit(first.data, **kw)
        f2 = model.fit(second.data, **kw)
    assert f1.compiled is False and f2.compiled is False
    script = (
        "import warnings, hetfx; warnings.simplefilter('ignore');"
        "sim = hetfx.datasets.simulate(n=300, n_modifiers=2, seed=1);"
        "fit = hetfx.fit(sim.formula, sim.data, backend='pystan', chains=1,"
        " iter_warmup=50, iter_sampling=50, seed=1);"
        "print('COMPILED', fit.compiled, round(fit.timing['compile'], 1))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = [x for x in out.stdout.splitlines() if x.startswith("COMPILED")][0]
    assert line.split()[1] == "False", line


def _log_density(code, data, unconstrained):
    import stan
    from hetfx.backends.pystan_backend import to_pystan_data

    model = stan.build(code, data=to_pystan_data(data), random_seed=1)
    return model, model.log_prob(list(unconstrained), adjust_transform=False)


def _constrained(model, unconstrained):
    values = np.asarray(model.constrain_pars(list(unconstrained)))
    names = model.constrained_param_names
    out = {}
    for name, value in zip(names, values, strict=False):
        base = name.split(".")[0]
        out.setdefault(base, []).append(value)
    return {k: np.asarray(v) for k, v in out.items()}


def _loglik_via_stan(model_fixture, design, family, seed, aggregate=True):
    """Stan's log density with the likelihood minus without it, at random values."""
    si = build_stan_input(design, get_family(family), aggregate=aggregate)
    n_par = 1 + si.data["K"] + 2 * si.data["E"] + si.data["L"] + si.data["G"]
    n_par += 1 if family == "gaussian" else 0
    u = np.random.default_rng(seed).normal(scale=0.5, size=n_par)
    code = model_fixture.program
    model, full = _log_density(code, si.data, u)
    _, prior = _log_density(code, {**si.data, "prior_only": 1}, u)
    return full - prior, _constrained(model, u), si


def _eta_rows(design, p):
    eq = design.equations[0]
    idx = eq.grouping.index
    has = idx >= 0
    tau = np.zeros(design.n)  # theta_g + (Z_i - zbar_g) lambda on treated units
    tau[has] = (
        p["theta"][idx[has]] + (eq.Z[has] - eq.group_means()[idx[has]]) @ p["lambda"]
    )
    return p["alpha"][0] + design.X @ p["beta"] + eq.arm.values * tau


def test_sufficient_statistics_likelihood_equals_row_wise(uncollapsed_gaussian_model):
    """The gaussian program's likelihood from W'W, W'y, y'y against the rows (the
    collapsed program's marginal: tests/test_collapsed.py)."""
    sim = hetfx.datasets.simulate(n=700, n_modifiers=3, seed=12)
    design = build_design(sim.formula, sim.data, warn_groups=False)
    model = uncollapsed_gaussian_model
    for seed in (1, 2, 3):
        stan_ll, p, _ = _loglik_via_stan(model, design, "gaussian", seed)
        rows = stats.norm.logpdf(design.y, _eta_rows(design, p), p["sigma"][0]).sum()
        assert stan_ll == pytest.approx(rows, rel=1e-8, abs=1e-6)


def test_aggregated_bernoulli_likelihood_equals_row_wise(bernoulli_model):
    sim = hetfx.datasets.simulate(
        n=900, n_modifiers=2, n_controls=0, family="bernoulli", seed=13
    )
    design = build_design(sim.formula, sim.data, warn_groups=False)
    stan_ll, p, si = _loglik_via_stan(bernoulli_model, design, "bernoulli", 4)
    assert si.data["N"] < design.n  # rows were aggregated
    rows = stats.bernoulli.logpmf(
        design.y, 1 / (1 + np.exp(-_eta_rows(design, p)))
    ).sum()
    # the unnormalised binomial density of the merged rows leaves out their
    # binomial coefficients: it is the bernoulli likelihood of the units
    assert (np.asarray(si.data["trials"]) > 1).any()
    assert stan_ll == pytest.approx(rows, rel=1e-8)
    # one row per unit (single trials): the bernoulli likelihood itself
    single, _, si = _loglik_via_stan(
        bernoulli_model, design, "bernoulli", 4, aggregate=False
    )
    assert si.data["N"] == design.n and set(si.data["trials"]) == {1}
    assert single == pytest.approx(rows, rel=1e-8)


def test_several_equations_and_pooled_only(gaussian_model):
    rng = np.random.default_rng(21)
    n = 2400
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "t": rng.integers(0, 2, n),
            "s": rng.integers(0, 2, n),
            "z1": rng.integers(0, 2, n),
            "z2": rng.integers(0, 2, n),
        }
    )
    theta = 0.2 + 0.4 * df["z1"] - 0.3 * df["z2"]
    df["y"] = 0.5 * df["x"] + df["t"] * theta + df["s"] * (-0.7) + rng.normal(size=n)
    # large groups: the centred form samples better (a data switch, no recompile)
    model = hetfx.HetModel(
        "y ~ x | t : z1 + z2 | s : 1", backend="pystan", parameterization="centred"
    )
    fit = _quiet_fit(model, df, seed=5)
    eff = fit.effects(prob=0.99)
    assert eff["treatment"].tolist() == ["t", "t", "t", "t", "s"]
    assert eff["group"].tolist()[-1] == "all units"
    s_row = eff.iloc[-1]
    assert s_row["lower"] <= -0.7 <= s_row["upper"]
    ate = fit.ate().set_index("treatment")
    assert ate.loc["s", "mean"] == pytest.approx(eff.iloc[-1]["mean"])
    assert (
        "sigma_theta"
        not in fit.modifiers().query("treatment == 's'")["parameter"].tolist()
    )


def test_sampling_failure_raises_sampling_error(gaussian_model):
    compiled = gaussian_model.compile()
    backend = gaussian_model.backend
    from hetfx.backends.options import sampler_options

    with pytest.raises(SamplingError, match="pystan sampling failed"):
        backend.sample(compiled, {"K": 0}, {}, sampler_options(chains=1, seed=1), {})


def test_a_parsed_line_kept_alive_while_pystan_reads_is_read_again(
    gaussian_model, monkeypatch
):
    """pysimdjson refuses to parse while an object of the line before is alive
    (a profiler holding a frame, as Dask's workers do, keeps one): the fit then
    reads httpstan's stored fit again and has the draws of an undisturbed fit."""
    import simdjson

    sim = hetfx.datasets.simulate(n=300, n_modifiers=2, seed=3)
    kw = {"seed": 5, "chains": 2, "iter_warmup": 100, "iter_sampling": 100}
    plain = _quiet_fit(gaussian_model, sim.data, **kw)
    parser_class, tripped = simdjson.Parser, []

    class KeepingParser:
        """Keeps its first object alive until a parse has failed for it."""

        def __init__(self):
            self.parser, self.kept = parser_class(), None

        def parse(self, line, *recursive):
            if tripped or recursive:  # as pysimdjson's (loads: Python objects)
                return self.parser.parse(line, *recursive)
            if self.kept is None:  # the first line: its object stays alive
                self.kept = self.parser.parse(line)
                return self.kept
            try:
                return self.parser.parse(line)
            except RuntimeError:  # pysimdjson's re-use check
                tripped.append(True)
                self.kept = None
                raise

    monkeypatch.setattr(simdjson, "Parser", KeepingParser)
    again = _quiet_fit(gaussian_model, sim.data, **kw)
    assert tripped == [True]
    np.testing.assert_array_equal(again.draws("theta"), plain.draws("theta"))


def test_low_ess_warns(gaussian_model):
    sim = hetfx.datasets.simulate(n=300, n_modifiers=2, seed=14)
    with pytest.warns(ConvergenceWarning, match="bulk ESS"):
        gaussian_model.fit(sim.data, chains=1, iter_warmup=50, iter_sampling=30, seed=1)
