"""Gaussian statistics partition by partition (Dask, Parquet) against pandas."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings

dd = pytest.importorskip("dask.dataframe")

import hetfx  # noqa: E402
from conftest import designs  # noqa: E402
from hetfx.design.partition_pass import approximate_quantiles  # noqa: E402
from hetfx.design.partitions import is_partitioned, summarise_partitions  # noqa: E402
from hetfx.program.standata import build_stan_input  # noqa: E402


def frame(n=3000, seed=5):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(10, 2, n),
            "c": rng.choice(["a", "b", "c"], n),
            "t": rng.integers(0, 2, n),
            "dose": rng.gamma(2, 1, n),
            "age": rng.uniform(18, 80, n),
            "s": rng.choice(["u", "v"], n),
            "w": rng.integers(0, 2, n),
        }
    )
    df["y"] = (
        0.3 * df.x + df.t * (0.5 + 0.01 * df.age) + 0.2 * df.dose + rng.normal(size=n)
    )
    df.loc[rng.choice(n, 40, replace=False), "x"] = np.nan
    return df


def stan_inputs(formula, data, npartitions=6, **options):
    model = hetfx.HetModel(formula, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = build_stan_input(model.design(data), model.family)
        design, summary = summarise_partitions(
            model.parsed,
            dd.from_pandas(data, npartitions=npartitions),
            bins=model.bins,
            control=model.control,
        )
    return memory, build_stan_input(design, model.family, summary=summary), design


def assert_same_data(a, b):
    assert set(a.data) == set(b.data)
    for key, value in a.data.items():
        np.testing.assert_allclose(
            np.asarray(b.data[key], float),
            np.asarray(value, float),
            rtol=1e-8,
            atol=1e-8,
            err_msg=key,
        )


@pytest.mark.parametrize(
    "formula, options",
    [
        ("y ~ x + c | t : s + w", {}),
        ("y ~ x + c | t : age + s", {"bins": {"age": [18, 30, 50, 80]}}),
        ("y ~ x | dose : s + w", {}),
        ("y ~ x | t : s | dose : w", {}),
        ("y ~ x | t : s + w | dose : 1", {}),
        ("y ~ x | c : s + w", {"control": "a"}),
    ],
)
def test_sufficient_statistics_equal_pandas(formula, options):
    memory, parts, design = stan_inputs(formula, frame(), **options)
    assert_same_data(memory, parts)
    keep = memory.effects_rows.columns
    pd.testing.assert_frame_equal(parts.effects_rows[keep], memory.effects_rows)
    assert design.n_dropped == 40 and design.n == 2960 and not design.has_rows


def test_default_bins_use_approximate_quantiles():
    df = frame()
    model = hetfx.HetModel("y ~ x | t : age + s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = model.design(df).equations[0].grouping
        design, _ = summarise_partitions(model.parsed, dd.from_pandas(df, 7))
    approx = design.equations[0].grouping
    assert approx.n_groups == exact.n_groups == 8
    np.testing.assert_allclose(
        approx.coders["age"].edges, exact.coders["age"].edges, atol=0.5
    )
    assert approx.table["n"].sum() == exact.table["n"].sum() == 2960


def test_parquet_dataset_is_read_partition_by_partition(tmp_path):
    df = frame().dropna()
    dd.from_pandas(df, npartitions=4).to_parquet(tmp_path / "data")
    assert is_partitioned(tmp_path / "data") and is_partitioned("x.parquet")
    assert not is_partitioned(df)
    model = hetfx.HetModel("y ~ x + c | t : s + w")
    design, summary = summarise_partitions(model.parsed, tmp_path / "data")
    memory = build_stan_input(model.design(df.reset_index(drop=True)), model.family)
    assert_same_data(memory, build_stan_input(design, model.family, summary=summary))


def test_partition_errors():
    df = frame()
    ddf = dd.from_pandas(df, npartitions=3)
    model = hetfx.HetModel("y ~ xx | t : s")
    with pytest.raises(hetfx.DataError, match="Variable 'xx' in formula"):
        summarise_partitions(model.parsed, ddf)
    model = hetfx.HetModel("y ~ x | t : s")
    with pytest.raises(
        hetfx.DataError, match=r"^40 rows have missing values \(missing='raise'\)\.$"
    ):
        summarise_partitions(model.parsed, ddf, missing="raise")
    with pytest.raises(hetfx.DataError, match="does not exist"):
        summarise_partitions(model.parsed, "/nonexistent/data.parquet")


def test_approximate_quantiles_pool_partitions():
    rng = np.random.default_rng(0)
    values = rng.normal(size=40_000)
    grids = [
        (np.quantile(part, np.linspace(0, 1, 201)), part.size)
        for part in np.array_split(values, 8)
    ]
    probs = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    approx = approximate_quantiles(grids, probs)
    np.testing.assert_allclose(approx, np.quantile(values, probs), atol=0.02)


@pytest.mark.sampling
def test_dask_fit_matches_in_memory_fit(gaussian_model):
    sim = hetfx.datasets.simulate(n=2000, n_modifiers=3, n_controls=2, seed=11)
    kwargs = {"chains": 2, "iter_warmup": 500, "iter_sampling": 500, "seed": 3}
    kwargs["adapt_delta"] = 0.95
    # ~125 treated units per group: "auto" samples the centred form
    model = hetfx.HetModel(sim.formula, backend="pystan", parameterization="auto")
    memory = model.fit(sim.data, **kwargs)
    parts = model.fit(dd.from_pandas(sim.data, npartitions=4), **kwargs)
    assert not parts.compiled
    a, b = memory.effects(), parts.effects()
    assert list(a["group"]) == list(b["group"])
    assert np.all(np.abs(a["mean"] - b["mean"]) < 0.5 * a["sd"])
    assert abs(memory.ate()["mean"][0] - parts.ate()["mean"][0]) < 0.5 * float(
        memory.ate()["sd"][0]
    )
    with pytest.raises(hetfx.OptionError, match=r"^ols\(\) needs the data rows"):
        parts.ols()


def test_data_files_are_read(tmp_path):
    df = frame().dropna().reset_index(drop=True)
    df.to_csv(tmp_path / "d.csv", index=False)
    model = hetfx.HetModel("y ~ x + c | t : s + w")
    design, summary = model._design_and_summary(tmp_path / "d.csv")
    assert summary is None and design.n == len(df) and design.has_rows
    with pytest.raises(hetfx.DataError, match="^Data file '.*nowhere.csv' does not"):
        model._design_and_summary(str(tmp_path / "nowhere.csv"))


@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=designs())
def test_in_memory_and_partitioned_paths_give_one_spec(case):
    """Both paths build the same layout, coders, group table and Stan data."""
    formula, frame = case
    continuous = [c for c in frame if c.startswith("z") and frame[c].nunique() > 3]
    bins = {c: np.quantile(frame[c], [0, 0.5, 1]).tolist() for c in continuous}
    model = hetfx.HetModel(formula, bins=bins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            memory = model.design(frame)
        except hetfx.HetfxError:
            event("refused by the design checks")
            return
        parts, summary = summarise_partitions(
            model.parsed, dd.from_pandas(frame, npartitions=3), bins=bins
        )
        a = build_stan_input(memory, model.family)
        b = build_stan_input(parts, model.family, summary=summary)
    event(f"{memory.layout.E} equations, {memory.layout.G} groups")
    assert parts.spec == memory.spec  # layout, coders, groups and their sizes
    assert parts.layout == memory.layout and parts.x_names == memory.x_names
    pd.testing.assert_frame_equal(
        parts.group_table(), memory.group_table(), check_dtype=False
    )
    for eq_p, eq_m in zip(parts.equations, memory.equations, strict=True):
        assert eq_p.grouping.coders.keys() == eq_m.grouping.coders.keys()
        for name, coder in eq_m.grouping.coders.items():
            assert eq_p.grouping.coders[name].categories == coder.categories
    assert_same_data(a, b)
