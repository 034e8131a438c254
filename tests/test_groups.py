import numpy as np
import pandas as pd
import pytest

import hetfx
from hetfx import DataError, GroupingWarning, OptionError
from hetfx.design.build import build_design
from hetfx.design.grouping import NO_GROUP


def frame(**cols):
    return pd.DataFrame(cols)


def test_binary_counts_labels_and_controls():
    df = frame(
        y=[1.0, 2, 3, 4, 5, 6, 7, 8],
        t=[1, 1, 1, 0, 0, 1, 1, 0],
        dem=[1, 0, 1, 1, 0, 0, 1, 0],
        male=[0, 0, 0, 1, 1, 1, 1, 0],
    )
    with pytest.warns(GroupingWarning):
        table = hetfx.groups("y ~ 1 | t : dem + male", df)
    assert table.columns.tolist() == [
        "treatment",
        "group",
        "dem",
        "male",
        "n_treated",
        "n",
    ]
    assert table["group"].tolist() == [
        "dem=0, male=0",
        "dem=0, male=1",
        "dem=1, male=0",
        "dem=1, male=1",
    ]
    assert table["n_treated"].tolist() == [1, 1, 2, 1]
    assert table["n"].tolist() == [2, 2, 2, 2]
    design = build_design("y ~ 1 | t : dem + male", df, warn_groups=False)
    index = design.equations[0].grouping.index
    assert (index[df["t"] == 0] == NO_GROUP).all()
    assert index.tolist() == [2, 0, 2, NO_GROUP, NO_GROUP, 1, 3, NO_GROUP]


def test_cells_with_only_controls_make_no_group():
    df = frame(y=np.arange(8.0), t=[1, 1, 0, 0, 0, 0, 1, 1], z=[0, 0, 2, 0, 1, 2, 1, 1])
    with pytest.warns(GroupingWarning):
        table = hetfx.groups("y ~ 1 | t : z", df)
    assert table["group"].tolist() == ["z=0", "z=1"]


def test_continuous_modifier_binned_for_grouping_only():
    rng = np.random.default_rng(1)
    n = 400
    df = frame(
        y=rng.normal(size=n), t=np.tile([0, 1], n // 2), age=rng.uniform(18, 80, n)
    )
    table = hetfx.groups("y ~ 1 | t : age", df)
    assert len(table) == 4
    assert (
        table["n_treated"].tolist() == [50, 50, 50, 50]
        or table["n_treated"].sum() == 200
    )
    assert table["group"].iloc[0].startswith("age=[")
    table5 = hetfx.groups("y ~ 1 | t : age", df, bins={"age": 5})
    assert len(table5) == 5
    edges = hetfx.groups("y ~ 1 | t : age", df, bins={"age": [0, 40, 100]})
    assert edges["group"].tolist() == ["age=[0, 40]", "age=(40, 100]"]
    design = build_design("y ~ 1 | t : age", df)
    np.testing.assert_array_equal(design.equations[0].Z[:, 0], df["age"].to_numpy())


def test_bins_errors():
    df = frame(y=np.arange(40.0), t=[0, 1] * 20, age=np.arange(40.0))
    with pytest.raises(OptionError, match="'agee', which is not a modifier"):
        hetfx.groups("y ~ 1 | t : age", df, bins={"agee": 3})
    with pytest.raises(OptionError, match=r"bins\['age'\] must be at least 2"):
        hetfx.groups("y ~ 1 | t : age", df, bins={"age": 1})
    with pytest.raises(DataError, match="fall outside the bin edges"):
        hetfx.groups("y ~ 1 | t : age", df, bins={"age": [10, 20, 30]})


def test_categorical_modifier_many_levels():
    levels = [f"s{i:02d}" for i in range(50)]
    df = frame(y=np.arange(300.0), t=[0, 1] * 150, state=np.repeat(levels, 6))
    with pytest.warns(GroupingWarning, match="more than 1 group per 5"):
        table = hetfx.groups("y ~ 1 | t : C(state)", df)
    assert len(table) == 50
    assert table["group"].iloc[0] == "state=s00"
    assert (table["n_treated"] == 3).all() and (table["n"] == 6).all()


def test_continuous_treatment_every_unit_grouped():
    rng = np.random.default_rng(2)
    df = frame(y=rng.normal(size=40), dose=rng.uniform(0, 3, 40), z=[0, 1] * 20)
    design = build_design("y ~ 1 | dose : z", df)
    eq = design.equations[0]
    assert eq.arm.kind == "continuous"
    assert (eq.grouping.index != NO_GROUP).all()
    table = design.group_table()
    assert table["n_treated"].tolist() == [20, 20] and table["n"].tolist() == [20, 20]


def test_no_modifiers_gives_one_pooled_row():
    df = frame(y=np.arange(10.0), t=[0, 1] * 5)
    table = hetfx.groups("y ~ 1 | t : 1", df)
    assert table["group"].tolist() == ["all units"]
    assert table["n_treated"].tolist() == [5] and table["n"].tolist() == [10]


def test_labels_are_stable_under_row_order():
    rng = np.random.default_rng(3)
    df = frame(
        y=rng.normal(size=200),
        t=[0, 1] * 100,
        a=rng.integers(0, 3, 200),
        b=rng.choice(["x", "y"], 200),
    )
    t1 = hetfx.groups("y ~ 1 | t : a + b", df)
    t2 = hetfx.groups("y ~ 1 | t : a + b", df.sample(frac=1, random_state=1))
    pd.testing.assert_frame_equal(t1, t2)


def test_small_groups_warning():
    df = frame(y=np.arange(12.0), t=[1] * 6 + [0] * 6, z=[0, 0, 0, 0, 1, 1] * 2)
    with pytest.warns(GroupingWarning, match="fewer than 5 treated units"):
        hetfx.groups("y ~ 1 | t : z", df)


def test_multiarm_treatment_groups():
    df = frame(
        y=np.arange(12.0),
        arm=["ctl", "A", "B"] * 4,
        z=[0, 0, 0, 1, 1, 1] * 2,
    )
    with pytest.warns(GroupingWarning):
        table = hetfx.groups("y ~ 1 | arm : z", df, control={"arm": "ctl"})
    assert table["treatment"].tolist() == ["arm[A]", "arm[A]", "arm[B]", "arm[B]"]
    assert table["n_treated"].tolist() == [2, 2, 2, 2]
    assert table["n"].tolist() == [6, 6, 6, 6]
