"""The level sums of one varying-intercept factor, which the collapsed gaussian
program integrates out (hetfx/program/levels.py)."""

import numpy as np
import pytest

import hetfx
from hetfx.design.build import build_design
from hetfx.families import get_family
from hetfx.program.levels import level_data, size_rows
from hetfx.program.matrices import design_matrix
from hetfx.program.standata import build_stan_input, scaling


def _data(design, **options):
    return build_stan_input(
        design, get_family("gaussian"), program="gaussian_collapsed", **options
    ).data


def _per_size(data, rows_or_sums, owner):
    """sum r r' of the rows of each size."""
    return [
        rows_or_sums[owner == u].T @ rows_or_sums[owner == u]
        for u in range(data["n_sizes"])
    ]


@pytest.mark.parametrize("weighted", [False, True])
def test_level_sums_and_size_rows_hold_the_levels_statistics(weighted):
    sim = hetfx.datasets.simulate_conjoint(n_respondents=60, n_tasks=4, seed=1)
    data = sim.data.iloc[: 60 * 4 - 7]  # a few respondents with fewer tasks
    rng = np.random.default_rng(1)
    data = data.assign(w=rng.uniform(0.5, 2, len(data)))
    options = {"weights": "w"} if weighted else {}
    design = build_design(sim.formula, data, warn_groups=False, **options)
    d = _data(design)
    W = design_matrix(design, scaling(design))
    w = np.ones(design.n) if design.weights is None else design.weights
    index, J = design.factors[0].index, design.factors[0].n_levels
    sums = np.zeros((J, W.shape[1] + 1))
    np.add.at(sums, index, w[:, None] * np.column_stack([W, design.y - d["y_shift"]]))
    np.testing.assert_allclose(d["level_sum"], sums, atol=1e-9)
    np.testing.assert_allclose(d["level_n"], np.bincount(index, w))
    # per distinct n_j: sum_r r r' over its size rows = sum_j s_j s_j'
    sizes = np.searchsorted(d["size_n"], d["level_n"])
    want = _per_size(d, sums, sizes)
    got = _per_size(d, d["size_rows"], d["size_of_row"] - 1)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-8 * np.abs(a).max())
    np.testing.assert_array_equal(d["size_count"], np.bincount(sizes))
    if not weighted:  # sizes 4 and 3 (and fewer): far fewer rows than levels
        assert d["n_sizes"] <= 3 and d["n_size_rows"] <= 3 * W.shape[1] + 3
    else:  # every level its own size: its own row
        assert d["n_sizes"] == d["n_size_rows"] == J == 59


def test_a_balanced_design_needs_at_most_one_row_per_column():
    sim = hetfx.datasets.simulate_conjoint(n_respondents=400, n_tasks=5, seed=2)
    design = build_design(sim.formula, sim.data, warn_groups=False)
    d = _data(design)
    assert d["n_sizes"] == 1 and d["size_n"][0] == 5 and d["size_count"][0] == 400
    assert d["n_size_rows"] <= design.layout.P + 1


def test_without_a_factor_the_level_data_are_empty():
    sim = hetfx.datasets.simulate(n=200, n_modifiers=2, seed=3)
    d = _data(build_design(sim.formula, sim.data, warn_groups=False))
    P = 1 + d["K"] + d["E"] + d["L"] + d["G"]
    assert d["n_levels"] == d["n_sizes"] == d["n_size_rows"] == 0
    assert d["level_sum"].shape == d["size_rows"].shape == (0, P + 1)
    assert level_data(None, None, 4)["size_rows"].shape == (0, 4)


def test_size_rows_keep_small_sets_and_compress_large_ones():
    rng = np.random.default_rng(4)
    few = rng.normal(size=(3, 5))
    np.testing.assert_array_equal(size_rows(few), few)
    many = rng.normal(size=(50, 5)) @ np.diag([1, 1, 1, 0, 1.0])  # rank 4
    rows = size_rows(many)
    assert rows.shape == (4, 5)
    np.testing.assert_allclose(rows.T @ rows, many.T @ many, atol=1e-10)


def test_collapsed_program_choice_with_factors():
    one = hetfx.HetModel("y ~ x + (1 | respondent) | treat : z1")
    assert one.collapsed and one.program_name == "gaussian_collapsed"
    two = hetfx.HetModel("y ~ x + (1 | respondent) + (1 | item) | treat : z1")
    assert not two.collapsed and two.program_name == "gaussian_rows"
    nested = hetfx.HetModel("y ~ x + (1 | site/respondent) | treat : z1")
    assert nested.program_name == "gaussian_rows"
    with pytest.raises(hetfx.OptionError, match="at most one varying intercept"):
        hetfx.HetModel("y ~ (1 | a) + (1 | b) | treat : z1", collapsed=True)
    rows = hetfx.HetModel("y ~ x + (1 | respondent) | treat : z1", collapsed=False)
    assert rows.program_name == "gaussian_rows"
