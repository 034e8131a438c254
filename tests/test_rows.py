"""Row-wise Stan data (group effects by index, exact aggregation) and the
per-group choice of parameterisation; no sampling."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hetfx
from conftest import categorical_experiment
from hetfx.design.build import build_design
from hetfx.design.layout import Layout
from hetfx.families import get_family
from hetfx.program.matrices import design_matrix
from hetfx.program.parameterization import (
    between_group_variance,
    choose,
    default_adapt_delta,
)
from hetfx.program.rows import RowData, aggregate, by_segment, full_w, row_data
from hetfx.program.standata import build_stan_input, scaling


def _frame(seed: int, n: int, continuous: bool, two_arms: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "y": rng.integers(0, 2, n),
            "x": rng.integers(0, 3, n) if not continuous else rng.normal(size=n),
            "z1": rng.integers(0, 2, n),
            "z2": rng.normal(size=n) if continuous else rng.integers(0, 3, n),
            "t": rng.integers(0, 3 if two_arms else 2, n),
        }
    )
    if two_arms:
        df["t"] = df["t"].map({0: "c", 1: "a", 2: "b"})
    return df


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(60, 300),
    continuous=st.booleans(),
    two_arms=st.booleans(),
)
def test_lookup_equals_the_group_columns_of_W(seed, n, continuous, two_arms):
    """W_fixed and the index lookup hold exactly the columns of W; merged rows
    keep every sum and every row's eta."""
    df = _frame(seed, n, continuous, two_arms)
    formula = "y ~ x | t : z1 + z2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = build_design(formula, df, control="c" if two_arms else None)
    sc = scaling(design)
    W = design_matrix(design, sc)
    rows = row_data(design, sc)
    layout = design.layout
    np.testing.assert_array_equal(rows.W, W[:, 1 : layout.groups.start])
    np.testing.assert_array_equal(rows.group_columns(), W[:, layout.groups])
    # the lookup J [alpha; theta] is each row's intercept and group term
    np.testing.assert_array_equal(
        rows.lookup().toarray(), np.column_stack([np.ones(n), W[:, layout.groups]])
    )
    # the Stan data leave out W's columns that are zero in every row (T's of
    # an equation with groups, T.*(Z - zbar_g) of discrete modifiers); full_w
    # puts them back
    data = {**rows.stan_data(), "K": layout.K, "E": layout.E, "L": layout.L}
    zero = ~(rows.W != 0).any(axis=0)
    assert data["n_w_columns"] == rows.W.shape[1] - zero.sum()
    np.testing.assert_array_equal(data["W"], rows.W[:, data["w_columns"] - 1])
    np.testing.assert_array_equal(full_w(data), rows.W)
    np.testing.assert_array_equal(full_w(data, slice(5, 9)), rows.W[5:9])
    assert not zero[: layout.K].any() and zero[layout.K : layout.K + layout.E].all()
    assert zero[layout.K + layout.E :].all() == (not continuous)
    merged, sums = aggregate(rows, {"y": df["y"].to_numpy(), "n": np.ones(n)})
    assert sums["n"].sum() == n and sums["y"].sum() == df["y"].sum()
    assert merged.n == len(np.unique(W, axis=0))
    gamma = np.random.default_rng(seed).normal(size=layout.P - 1)

    def eta(r: RowData) -> np.ndarray:
        return r.W @ gamma[: r.W.shape[1]] + r.group_columns() @ gamma[r.W.shape[1] :]

    # rows merged share eta, so sums of y * eta agree
    assert float(sums["y"] @ eta(merged)) == pytest.approx(
        float(df["y"].to_numpy() @ eta(rows)), rel=1e-9, abs=1e-9
    )
    # merging on y too (the negative binomial's): one row per distinct (row, y),
    # y kept, the weights summed, every unit's (eta, y) still there
    w = np.random.default_rng(seed).uniform(0.5, 2, n)
    keyed, keyed_sums = aggregate(rows, {"y": df["y"].to_numpy(), "w": w}, ("y",))
    assert keyed.n == len(np.unique(np.column_stack([W, df["y"]]), axis=0))
    assert keyed_sums["w"].sum() == pytest.approx(w.sum())
    assert float(keyed_sums["w"] @ (keyed_sums["y"] * eta(keyed))) == pytest.approx(
        float(w @ (df["y"].to_numpy() * eta(rows))), rel=1e-9, abs=1e-9
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(60, 600),
    continuous=st.booleans(),
    two_arms=st.booleans(),
    min_rows=st.sampled_from([1, 8, 64]),
)
def test_segments_are_runs_of_rows_sharing_their_intercept(
    seed, n, continuous, two_arms, min_rows
):
    """by_segment sorts the rows (and their sums, alike) into runs whose rows
    have one row of J, each run one segment, where runs average min_rows; the
    Stan data hold J's distinct rows, and each row's, by segment or not."""
    df = _frame(seed, n, continuous, two_arms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = build_design(
            "y ~ x | t : z1 + z2", df, control="c" if two_arms else None
        )
    rows = row_data(design, scaling(design))
    y, index = df["y"].to_numpy(), np.arange(n)
    out, sums = by_segment(rows, {"y": y, "index": index}, min_rows=min_rows)
    J = rows.lookup().toarray()
    distinct = len(np.unique(J, axis=0))
    if distinct * min_rows > n:  # runs too short: the rows as they were
        assert out is rows and out.segment_start is None
        data = out.stan_data()
        assert data["n_segments"] == n and data["n_intercepts"] == distinct
        np.testing.assert_array_equal(
            stan_lookup(data, J.shape[1])[data["intercept_index"] - 1], J
        )
        return
    order = sums["index"]
    np.testing.assert_array_equal(np.sort(order), index)  # a permutation
    np.testing.assert_array_equal(sums["y"], y[order])
    np.testing.assert_array_equal(out.W, rows.W[order])
    starts = out.segment_start - 1
    assert starts[0] == 0 and starts[-1] == n and len(starts) == distinct + 1
    J_sorted = out.lookup().toarray()
    np.testing.assert_array_equal(J_sorted, J[order])
    for s in range(distinct):
        run = J_sorted[starts[s] : starts[s + 1]]
        assert (run == run[0]).all()
    data = out.stan_data()  # the lookup has one row per segment
    assert data["n_segments"] == data["n_intercepts"] == distinct
    assert len(data["lookup_u"]) == distinct + 1
    np.testing.assert_array_equal(
        np.diff(data["lookup_u"]), (J_sorted[starts[:-1]] != 0).sum(axis=1)
    )
    np.testing.assert_array_equal(
        stan_lookup(data, J.shape[1])[data["intercept_index"] - 1], J_sorted
    )


def stan_lookup(data: dict, width: int) -> np.ndarray:
    """J's rows as the Stan data hold them (compressed sparse rows), dense."""
    from scipy import sparse

    u = np.asarray(data["lookup_u"]) - 1
    J = sparse.csr_matrix(
        (data["lookup_w"], np.asarray(data["lookup_v"]) - 1, u),
        shape=(len(u) - 1, width),
    )
    return J.toarray()


def test_every_family_aggregates_exactly_what_it_may():
    sim = hetfx.datasets.simulate(n=600, n_modifiers=2, n_controls=0, seed=3)
    df = sim.data.assign(
        count=np.random.default_rng(1).poisson(2, 600),
        level=np.random.default_rng(2).integers(1, 4, 600),
        binary=np.random.default_rng(4).integers(0, 2, 600),
    )
    df["x"] = np.random.default_rng(3).integers(0, 2, 600)
    rows = {}
    for family, outcome in [
        ("bernoulli", "binary"),
        ("poisson", "count"),
        ("negative_binomial", "count"),
        ("ordinal", "level"),
        ("categorical", "level"),
        ("student_t", "count"),
    ]:
        design = build_design(f"{outcome} ~ x | treat : z1 + z2", df, warn_groups=False)
        si = build_stan_input(design, get_family(family))
        rows[family] = si.data["N"]
        assert si.info["aggregated_rows"] == si.data["N"]
        if family in ("ordinal", "categorical"):
            assert si.data["counts"].sum() == 600
    # x (2 values) x 4 modifier cells (main effects) x treated or not
    for family in ("bernoulli", "poisson", "ordinal", "categorical"):
        assert rows[family] == 16, (family, rows[family])
    # the negative binomial merges units that share the count too
    cells = df.groupby(["x", "treat", "z1", "z2", "count"]).ngroups
    assert rows["negative_binomial"] == cells < 300
    assert rows["student_t"] == 600


def test_between_group_variance_is_the_method_of_moments_estimate():
    rng = np.random.default_rng(0)
    G = 400
    zbar = rng.normal(size=(G, 1))
    v = rng.uniform(0.01, 0.05, G)
    b = 1 + 0.5 * zbar[:, 0] + rng.normal(0, 0.3, G) + rng.normal(0, np.sqrt(v))
    assert between_group_variance(b, v, zbar) == pytest.approx(0.09, rel=0.2)
    homogeneous = 1 + 0.5 * zbar[:, 0] + rng.normal(0, np.sqrt(v))
    assert between_group_variance(homogeneous, v, zbar) < 0.005
    # no more groups than columns: the spread is not identified
    assert between_group_variance(b[:2], v[:2], zbar[:2]) == 0.0


def _mixed_sizes(sigma_theta: float, seed: int = 2) -> pd.DataFrame:
    """Six groups (z1 x z2) of 5 and of 500 treated units."""
    rng = np.random.default_rng(seed)
    parts = []
    for g, size in enumerate([10, 1000, 10, 1000, 10, 1000]):
        t = np.repeat([0, 1], size // 2)
        effect = 0.3 + rng.normal(0, sigma_theta)
        y = rng.normal(size=size) + t * effect
        parts.append(pd.DataFrame({"y": y, "t": t, "z1": g % 2, "z2": g // 2}))
    return pd.concat(parts, ignore_index=True)


def test_auto_centres_the_groups_the_data_pin_down():
    design = build_design("y ~ 1 | t : z1 + z2", _mixed_sizes(0.3), warn_groups=False)
    si = build_stan_input(design, get_family("gaussian"))
    flags, v = si.data["noncentred"], si.data["pilot_variance"]
    sizes = design.group_table()["n_treated"].to_numpy()
    assert (flags[sizes == 500] < 0.1).all() and (flags[sizes == 5] > 0.6).all()
    assert si.info["centred_groups"] == 3 and si.info["noncentred_groups"] == 3
    # the program's adaptive weight reads each group's pilot sampling variance:
    # between sigma^2 / n (a known baseline) and 2 sigma^2 / n (two means)
    for n in (500, 5):
        assert ((v[sizes == n] > 0.9 / n) & (v[sizes == n] < 2.4 / n)).all(), v
    # no visible heterogeneity: every group non-centred
    design = build_design("y ~ 1 | t : z1 + z2", _mixed_sizes(0.0), warn_groups=False)
    si = build_stan_input(design, get_family("gaussian"))
    assert (si.data["noncentred"] == 1).all() and si.info["centred_groups"] == 0
    for forced, flag in (("noncentred", 1), ("centred", 0)):
        si = build_stan_input(design, get_family("gaussian"), parameterization=forced)
        assert (si.data["noncentred"] == flag).all()
        assert (si.data["pilot_variance"] == 0).all()
        assert si.info["parameterization"] == forced


def test_choice_without_groups_and_bad_name():
    layout = Layout.build(["x"], [("t", (), 0)])
    weights, variances, note = choose("auto", {}, layout, get_family("gaussian"))
    assert weights.shape == variances.shape == (0,)
    assert note == {"parameterization": "auto"}
    with pytest.raises(
        hetfx.OptionError,
        match="parameterization must be 'auto', 'noncentred' or 'centred', got 'x'",
    ):
        hetfx.HetModel("y ~ x | t : z", parameterization="x")


@pytest.mark.parametrize(
    "design, delta",
    [("binned", 0.95), ("small64", 0.8), ("rich8", 0.8), ("one_binary", 0.8)],
)
def test_default_adapt_delta_follows_the_groups_form(design, delta):
    """0.95 where an equation's groups are mostly non-centred at the pilot's tau
    and too few to inform sigma_theta (4 groups on a binned modifier); 0.8 for
    many small groups, for the interaction model (no deviations) and for
    data-rich groups; 0.95 for the collapsed gaussian program."""
    formula, data = hetfx.datasets.robustness_design(design, "bernoulli", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        si = build_stan_input(build_design(formula, data), get_family("bernoulli"))
    assert default_adapt_delta(False, si.data) == delta
    assert default_adapt_delta(True, si.data) == 0.95
    if design == "one_binary":
        assert si.info["deviations"] == {"treat": False}
    sim = hetfx.datasets.simulate(n=5000, n_modifiers=5, family="poisson", seed=1)
    design = build_design(sim.formula, sim.data, warn_groups=False)
    si = build_stan_input(design, get_family("poisson"))
    assert (si.data["noncentred"] < 0.5).all()
    # every group sampled around its conditional posterior
    assert (si.data["pilot_variance"] > 0).all()
    assert default_adapt_delta(False, si.data) == 0.8


def test_categorical_group_units_come_from_a_pilot_per_category():
    """Each non-reference category c gets the row-wise programs' units from a
    pilot of c against the reference, IRLS to its maximum likelihood: with no
    controls each group's treated units fit their own share s_gc of c among
    those in either category, so v_gc = 1 / (m_gc s_gc (1 - s_gc)), m_gc the
    group's treated units in either category, and the treated level is
    logit(s_gc) (up to the IRLS tolerance)."""
    df = categorical_experiment()
    design = build_design("y ~ 1 | t : z1 + z2", df, warn_groups=False)
    si = build_stan_input(design, get_family("categorical"))
    v, level = si.data["pilot_variance_c"], si.data["theta_level_c"]
    reference = si.data["sigma_theta_reference_c"]
    assert v.shape == level.shape == (4, 2) and reference.shape == (1, 2)
    table = design.group_table()
    for c, name in enumerate(["B", "C"]):
        pair = df["y"].isin(["A", name])
        for slot, row in table.iterrows():  # the groups in theta's order
            treated = (df.t == 1) & (df.z1 == row["z1"]) & (df.z2 == row["z2"]) & pair
            share = (df["y"][treated] == name).mean()
            assert v[slot, c] == pytest.approx(
                1 / (treated.sum() * share * (1 - share)), rel=0.02
            )
            assert level[slot, c] == pytest.approx(
                np.log(share / (1 - share)), abs=0.01
            )
        # c_e = sqrt(median sampling variance) >= the variance given the rest
        assert reference[0, c] >= np.sqrt(np.median(v[:, c])) * 0.999
    # alpha, beta, a and lambda in each pilot's units: the sd of its estimates
    scale = si.data["coef_scale_c"]
    assert scale.shape == (1 + 2 + 1 + 2, 2) and (scale > 0).all()
    assert (scale < 0.5).all()  # 3,000 rows: far from the unit scale
    # forced forms and fits from the priors: the weights fix the form; from the
    # priors, unit scales
    for options in ({"parameterization": "centred"}, {"prior_only": True}):
        forced = build_stan_input(design, get_family("categorical"), **options)
        assert (forced.data["pilot_variance_c"] == 0).all()
        assert (forced.data["sigma_theta_reference_c"] == 1).all()
        pilot = "prior_only" not in options
        assert (forced.data["coef_scale_c"] == 1).all() != pilot


def test_ordinal_and_categorical_rows_go_by_segment_in_short_runs():
    """64 groups of about 20 rows: too short a run for a GLM call each in the
    bernoulli family (rows one by one), not for the ordinal family (one GLM
    call whatever the runs) nor the categorical (a log_sum_exp a row)."""
    segments = {}
    for family in ("bernoulli", "ordinal", "categorical"):
        formula, data = hetfx.datasets.robustness_design("small64", family, 1)
        design = build_design(formula, data, warn_groups=False)
        si = build_stan_input(design, get_family(family))
        segments[family] = si.data["n_segments"]
        assert si.data["N"] == 1300
    assert segments["bernoulli"] == 1300
    assert segments["ordinal"] == segments["categorical"] == 65
