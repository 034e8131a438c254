import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hetfx
from hetfx import DataError, OptionError
from hetfx.design.build import build_design
from hetfx.design.data import MissingDataWarning


def test_main_effects_add_constituent_terms(small_frame):
    d = build_design("y ~ x1 + x2 | t : z + C(w)", small_frame)
    assert d.x_names == ["x1", "x2", "z", "C(w)[T.b]", "C(w)[T.c]"]
    d2 = build_design("y ~ x1 + z | t : z", small_frame)
    assert d2.x_names == ["x1", "z"]  # already there: not added twice
    d3 = build_design("y ~ x1 + x2 | t : z + C(w)", small_frame, main_effects=False)
    assert d3.x_names == ["x1", "x2"]
    eq = d.equations[0]
    assert eq.z_names == ["z", "C(w)[T.b]", "C(w)[T.c]"]
    np.testing.assert_array_equal(eq.arm.values, small_frame["t"].to_numpy())


def test_formulaic_transforms(small_frame):
    small_frame["pos"] = np.exp(small_frame["x1"])
    d = build_design("y ~ log(pos) + I(x2**2) + x1:x2 | t : z", small_frame)
    assert d.x_names == ["log(pos)", "I(x2 ** 2)", "x1:x2", "z"]
    np.testing.assert_allclose(d.X[:, 0], small_frame["x1"])


def test_accepts_dict_and_to_pandas(small_frame):
    class FakePolars:
        def to_pandas(self):
            return small_frame

    assert len(hetfx.groups("y ~ x1 | t : z", small_frame.to_dict("list"))) == 2
    assert len(hetfx.groups("y ~ x1 | t : z", FakePolars())) == 2


def test_rejects_non_frames_and_empty():
    with pytest.raises(DataError, match="got list"):
        hetfx.groups("y ~ 1 | t : z", [1, 2, 3])
    with pytest.raises(DataError, match="empty"):
        hetfx.groups("y ~ 1 | t : z", pd.DataFrame({"y": [], "t": [], "z": []}))


def test_unknown_variable_lists_near_matches(small_frame):
    with pytest.raises(DataError, match=r"Variable 'x3' .* Did you mean 'x2', 'x1'"):
        hetfx.groups("y ~ x3 | t : z", small_frame)
    with pytest.raises(DataError, match="Variable 'zz'"):
        hetfx.groups("y ~ x1 | t : zz", small_frame)


def test_missing_values_dropped_with_warning_or_raise(small_frame):
    small_frame.loc[[0, 3], "x1"] = np.nan
    small_frame.loc[5, "z"] = np.nan
    with pytest.warns(
        MissingDataWarning, match=r"Dropped 3 of 60 rows .* x1 \(2\), z \(1\)"
    ):
        d = build_design("y ~ x1 | t : z", small_frame)
    assert d.n == 57 and d.n_dropped == 3
    with pytest.raises(
        DataError, match=r"3 rows have missing values in: x1 \(2\), z \(1\)"
    ):
        build_design("y ~ x1 | t : z", small_frame, missing="raise")
    with pytest.raises(OptionError, match="missing must be"):
        build_design("y ~ x1 | t : z", small_frame, missing="ignore")


def test_infinite_values(small_frame):
    small_frame.loc[2, "x2"] = np.inf
    with pytest.raises(DataError, match="Variable 'x2' has 1 infinite values"):
        hetfx.groups("y ~ x2 | t : z", small_frame)


def test_constant_and_collinear_controls(small_frame):
    small_frame["c"] = 3.0
    with pytest.raises(DataError, match="Control 'c' is constant"):
        build_design("y ~ x1 + c | t : z", small_frame)
    small_frame["x3"] = small_frame["x1"] * 2 - small_frame["x2"]
    with pytest.raises(DataError, match="'x3' is perfectly collinear with 'x1', 'x2'"):
        build_design("y ~ x1 + x2 + x3 | t : z", small_frame)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    rows=st.integers(3, 60),
    cols=st.integers(1, 6),
    collinear=st.sampled_from([None, "combination", "near", "intercept"]),
)
def test_gram_shortcut_agrees_with_the_qr_check(seed, rows, cols, collinear):
    """Where the Gram matrix says the columns are clearly independent, the QR
    check finds nothing; every collinear design goes on to the QR check."""
    from hetfx.design.checks import clearly_independent, find_collinear

    rng = np.random.default_rng(seed)
    m = rng.normal(size=(rows, cols)) * rng.choice([1e-3, 1, 1e3], size=cols)
    if rng.random() < 0.3:
        m[:, 0] = rng.integers(0, 2, rows)  # a binary column
    if collinear == "combination" and cols > 1:
        m[:, -1] = m[:, :-1] @ rng.normal(size=cols - 1)
    elif collinear == "near" and cols > 1:
        m[:, -1] = m[:, 0] + 1e-12 * rng.normal(size=rows)
    elif collinear == "intercept":
        m[:, -1] = 2.0 - 3.0 * np.ones(rows) + 1e-9 * m[:, 0]
    names = [f"c{j}" for j in range(cols)]
    full = np.column_stack([np.ones(rows), m])
    qr_diag = np.abs(np.diag(np.linalg.qr(full, mode="r")))
    qr_diag = np.concatenate([qr_diag, np.zeros(full.shape[1] - qr_diag.size)])
    norms = np.linalg.norm(full, axis=0)
    qr_flags = bool((qr_diag[1:] <= 1e-7 * np.maximum(norms[1:], 1.0)).any())
    if clearly_independent(m):
        assert not qr_flags
        assert find_collinear(m, names) is None
    if collinear in ("combination", "near") and cols > 1:
        assert not clearly_independent(m)
        assert find_collinear(m, names) is not None


def test_constant_or_collinear_modifier(small_frame):
    small_frame["k"] = 1
    with pytest.raises(DataError, match="modifier 'k' is constant"):
        build_design("y ~ x1 | t : z + k", small_frame, main_effects=False)
    small_frame["z2"] = 1 - small_frame["z"]
    with pytest.raises(DataError, match="'z2' is perfectly collinear with 'z'"):
        build_design("y ~ x1 | t : z + z2", small_frame, main_effects=False)


def test_fewer_than_two_groups(small_frame):
    small_frame["one"] = np.where(small_frame["t"] == 1, 1, 0)
    with pytest.raises(
        DataError, match="modifier 'one' is constant|fewer than 2 groups"
    ):
        build_design("y ~ x1 | t : one", small_frame, main_effects=False)
    small_frame["cat"] = np.where(small_frame["t"] == 1, "a", "b")
    with pytest.raises(DataError, match="'t' has fewer than 2 groups"):
        build_design("y ~ x1 | t : cat", small_frame, main_effects=False)


def test_treatment_types(small_frame):
    small_frame["tb"] = small_frame["t"].astype(bool)
    assert build_design("y ~ 1 | tb : z", small_frame).equations[0].arm.kind == "binary"
    small_frame["tc"] = np.where(small_frame["t"] == 1, "drug", "placebo")
    eq = build_design("y ~ 1 | tc : z", small_frame, control="placebo").equations[0]
    assert eq.arm.kind == "binary" and eq.label == "tc"
    np.testing.assert_array_equal(eq.arm.values, small_frame["t"].to_numpy())
    small_frame["dose"] = np.linspace(0, 2, len(small_frame))
    d = build_design("y ~ 1 | dose : z", small_frame)
    assert d.equations[0].arm.kind == "continuous"
    d = build_design("y ~ 1 | t : z", small_frame, treatment_type="continuous")
    assert d.equations[0].arm.kind == "continuous"


def test_treatment_errors(small_frame):
    small_frame["none"] = 0
    with pytest.raises(DataError, match="'none' has no treated units"):
        build_design("y ~ 1 | none : z", small_frame)
    small_frame["all"] = 1
    with pytest.raises(DataError, match="'all' has no control units"):
        build_design("y ~ 1 | all : z", small_frame)
    small_frame["arm"] = np.tile(["a", "b", "c"], 20)
    with pytest.raises(DataError, match="Categorical treatment 'arm' needs a control"):
        build_design("y ~ 1 | arm : z", small_frame)
    with pytest.raises(DataError, match="Control level 'd' of treatment 'arm'"):
        build_design("y ~ 1 | arm : z", small_frame, control={"arm": "d"})
    small_frame["t12"] = small_frame["t"] + 1
    with pytest.raises(DataError, match=r"'t12' takes the two values \[1.0, 2.0\]"):
        build_design("y ~ 1 | t12 : z", small_frame)
    d = build_design("y ~ 1 | t12 : z", small_frame, control={"t12": 1})
    assert d.equations[0].arm.values.tolist() == small_frame["t"].tolist()
    with pytest.raises(OptionError, match="treatment_type for 't' must be one of"):
        build_design("y ~ 1 | t : z", small_frame, treatment_type="dose")


def test_multiarm_equations(small_frame):
    small_frame["arm"] = np.tile(["ctl", "A", "B"], 20)
    d = build_design("y ~ x1 | arm : z", small_frame, control={"arm": "ctl"})
    assert [eq.label for eq in d.equations] == ["arm[A]", "arm[B]"]
    a, b = d.equations
    assert a.arm.values.sum() == 20 and b.arm.values.sum() == 20
    assert not np.any(a.arm.values * b.arm.values)
    assert d.x_names == ["x1", "z"]


def test_several_treatment_parts(small_frame):
    small_frame["s"] = np.repeat([0, 1], 30)
    d = build_design("y ~ x1 | t : z | s : C(w)", small_frame)
    assert [eq.label for eq in d.equations] == ["t", "s"]
    assert d.x_names == ["x1", "z", "C(w)[T.b]", "C(w)[T.c]"]
    table = d.group_table()
    assert table["treatment"].tolist() == ["t", "t", "s", "s", "s"]


@pytest.mark.parametrize("chunk_rows", [7, 65_536])
def test_treatment_collinear_with_control(small_frame, monkeypatch, chunk_rows):
    """The identification check sums the Gram matrix over chunks of rows (7:
    nine chunks of the 60 rows) and names the column as the QR check does."""
    monkeypatch.setattr("hetfx.design.checks.CHECK_CHUNK_ROWS", chunk_rows)
    small_frame["t_copy"] = small_frame["t"] * 1.0
    with pytest.raises(
        DataError,
        match=re.escape(
            "The design is not identified: \"treatment 't'\" is perfectly "
            "collinear with 't_copy'."
        ),
    ):
        build_design("y ~ t_copy | t : z", small_frame)
    small_frame["tz"] = small_frame["t"] * small_frame["z"]
    with pytest.raises(DataError, match="'t:z' is perfectly collinear with 'tz'"):
        build_design("y ~ tz | t : z", small_frame, main_effects=False)
    assert build_design("y ~ x1 | t : z", small_frame).n == 60


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    rows=st.integers(1, 50),
    cols=st.integers(0, 5),
    chunk=st.integers(1, 20),
)
def test_column_statistics_by_chunks_are_those_of_the_whole(seed, rows, cols, chunk):
    from hetfx.design.checks import column_statistics

    m = np.random.default_rng(seed).normal(size=(rows, cols))
    m[:, :1] = np.round(m[:, :1])  # a column with ties
    whole = column_statistics([m])
    parts = column_statistics(m[s : s + chunk] for s in range(0, rows, chunk))
    assert parts.n == whole.n == rows
    np.testing.assert_allclose(parts.sums, m.sum(axis=0), atol=1e-12)
    np.testing.assert_allclose(parts.gram, m.T @ m, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(parts.lowest, m.min(axis=0, initial=np.inf))
    np.testing.assert_array_equal(parts.highest, m.max(axis=0, initial=-np.inf))
    assert parts.any_constant() == bool((np.ptp(m, axis=0) == 0).any())
    assert parts.clearly_independent() == whole.clearly_independent()
