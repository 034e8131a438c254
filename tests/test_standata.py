import numpy as np
import pandas as pd
import pytest

import hetfx
from conftest import declared_names
from hetfx.design.build import build_design
from hetfx.families import CLASSES, get_family
from hetfx.program.example import example_input
from hetfx.program.matrices import design_matrix
from hetfx.program.render import (
    PROGRAMS,
    STANDALONE_PROGRAMS,
    has_alpha,
    program_hash,
    render,
)
from hetfx.program.rows import PILOT_INDICES, aggregate, row_data
from hetfx.program.standata import build_stan_input, scaling


def _design(n=300, seed=0, **kw):
    sim = hetfx.datasets.simulate(n=n, n_modifiers=3, seed=seed, **kw)
    return sim, build_design(sim.formula, sim.data, warn_groups=False)


def test_one_program_per_family_and_data_free():
    g, b = render("gaussian"), render("bernoulli")
    assert g != b and program_hash(g) == program_hash(render("gaussian"))
    assert "binomial_logit_glm_lupmf" in b and "quad_form_sym(WtW, gamma)" in g
    # nothing of a dataset is in the text: sizes, switches and priors are data
    for word in ("int<lower=0> K;", "int<lower=0> G;", "prior_dist_sigma_theta"):
        assert word in g and word in b


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_the_backend_gets_the_data_the_program_declares(program):
    """Every name of a program's data block, and nothing else: the indices
    only the pilot reads stay out of what httpstan checks and CmdStan reads."""
    family = get_family(PROGRAMS[program][0])
    example = example_input(family, program)
    declared = declared_names(render(program), block="data")
    assert sorted(example.program_data) == sorted(declared)
    left_out = set(PILOT_INDICES) if "W" in declared else set()
    assert example.data.keys() - example.program_data.keys() == left_out


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_alpha_is_a_parameter_where_the_family_has_an_intercept(program):
    """The families own the intercept: each program samples alpha exactly
    where its families' ``intercept`` says so (the ordinal's cutpoints take
    its place)."""
    intercepts = {CLASSES[name]().intercept for name in PROGRAMS[program]}
    assert intercepts == {has_alpha(program)}
    assert has_alpha(program) == (program != "ordinal")
    declared = declared_names(render(program), block="parameters")
    if program not in STANDALONE_PROGRAMS:  # their own templates and names
        assert ("alpha_raw" in declared) == has_alpha(program)


def test_sufficient_statistics_match_row_wise_design():
    sim, design = _design()
    si = build_stan_input(design, get_family("gaussian"))
    W = design_matrix(design, scaling(design))
    r = design.y - si.data["y_shift"]
    np.testing.assert_allclose(si.data["WtW"], W.T @ W, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(si.data["Wty"], W.T @ r, rtol=1e-10, atol=1e-8)
    assert si.data["yty"] == pytest.approx(r @ r)
    assert np.array_equal(si.data["WtW"], si.data["WtW"].T)
    # and the quadratic form gives the row-wise residual sum of squares
    gamma = np.random.default_rng(1).normal(size=W.shape[1])
    ssr_rows = np.sum((r - W @ gamma) ** 2)
    ssr_suff = (
        si.data["yty"] - 2 * gamma @ si.data["Wty"] + gamma @ si.data["WtW"] @ gamma
    )
    assert ssr_suff == pytest.approx(ssr_rows, rel=1e-9)


def test_treated_base_data_match_the_design_matrix():
    """treated_base: c (alpha + xbar beta) with xbar the mean of W's control
    columns over an equation's (a group's) treated rows, c = 1 for a 0/1
    treatment, 0 for a continuous one (whose rows carry T_i theta_g); and
    lambda_control turns a modifier's main effect into its share of the
    treated units' slope: the linear predictor of treated rows is then
    a + xbar (beta) + Z lambda' with lambda' = lambda_std + lambda_control
    beta_std on the modifiers' standardised scale."""
    sim, design = _design(n=500, seed=3)
    d = build_stan_input(design, get_family("gaussian")).data
    W = design_matrix(design, scaling(design))
    K, G = d["K"], d["G"]
    groups = W[:, -G:]  # T.*1{g}: one column per group
    for g in range(G):
        rows = groups[:, g] != 0
        np.testing.assert_allclose(d["x_group_std"][g], W[rows, 1 : 1 + K].mean(0))
    treated = groups.sum(axis=1) != 0
    np.testing.assert_allclose(d["x_treated_std"][0], W[treated, 1 : 1 + K].mean(0))
    np.testing.assert_array_equal(d["theta_shift"], np.ones(G))
    np.testing.assert_array_equal(d["treated_shift"], [1.0])
    # modifier z_l is control j (its main effect): the treated rows' slope in
    # z_l is beta_std[j] / x_scale[j] + lambda_std[l] / z_scale[l]
    beta_std = np.random.default_rng(1).normal(size=K)
    slope = d["lambda_control"] @ beta_std / d["z_scale"]
    for col, name in enumerate(design.equations[0].z_names):
        j = design.x_names.index(name)
        assert slope[col] == pytest.approx(beta_std[j] / d["x_scale"][j])
    data = sim.data.assign(treat=np.random.default_rng(3).uniform(0, 1, 500))
    dose = build_design(
        sim.formula, data, warn_groups=False, treatment_type="continuous"
    )
    d = build_stan_input(dose, get_family("gaussian")).data
    np.testing.assert_array_equal(d["theta_shift"], np.zeros(d["G"]))
    np.testing.assert_array_equal(d["treated_shift"], [0.0])


def test_suff_stats_in_chunks(monkeypatch):
    sim, design = _design(n=1000)
    whole = build_stan_input(design, get_family("gaussian")).data
    monkeypatch.setattr("hetfx.program.matrices.CHUNK_ROWS", 97)
    chunked = build_stan_input(design, get_family("gaussian")).data
    np.testing.assert_allclose(chunked["WtW"], whole["WtW"], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(chunked["Wty"], whole["Wty"], rtol=1e-10, atol=1e-9)


def test_scaled_design_maps_back_to_user_scale():
    rng = np.random.default_rng(2)
    n = 400
    df = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(5, 2, n),
            "t": rng.integers(0, 2, n),
            "z": rng.integers(0, 2, n),
            "age": rng.uniform(20, 60, n),
        }
    )
    design = build_design("y ~ x | t : z + age", df, warn_groups=False)
    sc = scaling(design)
    W = design_matrix(design, sc)
    eq = design.equations[0]
    K, L, G = design.X.shape[1], 2, eq.n_groups
    # user-scale parameters, and the standardised ones the program samples
    alpha, beta, a, lam = 0.3, rng.normal(size=K), 0.4, rng.normal(size=L)
    theta = rng.normal(size=G)
    gamma = np.concatenate(
        [
            [alpha + beta @ sc.x_mean],
            beta * sc.x_scale,
            [a + lam @ sc.z_mean],
            lam * sc.z_scale,
            theta,
        ]
    )
    # tau_i = theta_g + (Z_i - zbar_g) lambda for treated units
    idx = eq.grouping.index
    has = idx >= 0
    tau = np.zeros(n)
    tau[has] = theta[idx[has]] + (eq.Z[has] - eq.group_means()[idx[has]]) @ lam
    eta_user = alpha + design.X @ beta + eq.arm.values * tau
    np.testing.assert_allclose(W @ gamma, eta_user, atol=1e-10)
    # the T column is zero for an equation with groups: a acts through theta
    assert np.all(W[:, 1 + K] == 0)
    # theta is the mean of tau over the group's treated units
    for g in range(G):
        assert tau[idx == g].mean() == pytest.approx(theta[g])


def test_bernoulli_rows_are_aggregated_exactly():
    rng = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame(
        {
            "y": rng.integers(0, 2, n),
            "t": rng.integers(0, 2, n),
            "z1": rng.integers(0, 2, n),
            "z2": rng.integers(0, 2, n),
            "x": rng.integers(0, 3, n),
        }
    )
    design = build_design("y ~ C(x) | t : z1 + z2", df, warn_groups=False)
    rows, sums = aggregate(
        row_data(design, scaling(design)), {"y": df["y"], "trials": np.ones(n)}
    )
    assert rows.n <= 2 * 2 * 2 * 3
    assert sums["trials"].sum() == n and sums["y"].sum() == df["y"].sum()
    si = build_stan_input(design, get_family("bernoulli"))
    assert si.info["rows"] == n and si.info["aggregated_rows"] == rows.n
    assert si.data["trials"].sum() == n and si.data["y"].sum() == df["y"].sum()


def test_group_averages_and_weights():
    sim, design = _design()
    si = build_stan_input(design, get_family("gaussian"))
    table = design.group_table()
    np.testing.assert_allclose(si.data["ate_weight"].sum(axis=1), [1.0])
    np.testing.assert_allclose(
        si.data["ate_weight"][0], table["n_treated"] / table["n_treated"].sum()
    )
    # discrete modifiers: each group's mean Z is its modifier values
    np.testing.assert_allclose(si.data["z_group"], table[["z1", "z2", "z3"]].to_numpy())
    assert si.coords["group"][0] == "treat | z1=0, z2=0, z3=0"
