"""A new user's first hour without sampling: the OLS baseline, grouping by C(),
the compile cache's checks, progress defaults, the data download and start-up."""

import warnings

import numpy as np
import pandas as pd
import pytest

import hetfx
from conftest import TOMZ_WEEKS, serve
from hetfx import DataError, OptionError
from hetfx.backends import cache
from hetfx.backends.options import interactive, sampler_options
from hetfx.batch.jobs import Job


def _survey(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "t": rng.integers(0, 2, n),
            "z1": rng.integers(0, 2, n),
            "z2": rng.integers(0, 2, n),
        }
    )
    # baselines differ by cell beyond the main effects (a z1:z2 term)
    base = 0.5 * df["z1"] - 0.3 * df["z2"] + 1.2 * df["z1"] * df["z2"]
    effect = 0.2 + 0.4 * df["z1"]
    df["y"] = base + 0.5 * df["x"] + df["t"] * effect + rng.normal(size=n)
    return df


def _ols(W: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(W, y, rcond=None)[0]


def test_ols_baseline_is_the_fully_interacted_model_by_default():
    df = _survey()
    out = hetfx.ols_interactions("y ~ x | t : z1 + z2", df)
    z1, z2, t = (df[c].to_numpy(dtype=float) for c in ("z1", "z2", "t"))
    cells = [(a, b) for a in (0, 1) for b in (0, 1)]
    dummies = [((z1 == a) & (z2 == b)).astype(float) for a, b in cells]
    # y ~ t * (z1 * z2) + x: a free baseline and a free effect in every cell
    W = np.column_stack([np.ones(len(df)), df["x"], *dummies[1:]])
    W = np.column_stack([W, *[t * d for d in dummies]])
    np.testing.assert_allclose(out["mean"], _ols(W, df["y"].to_numpy())[-4:])
    # the linear option: modifier main effects instead of cell baselines
    lin = hetfx.ols_interactions("y ~ x | t : z1 + z2", df, baseline="linear")
    W = np.column_stack([np.ones(len(df)), df["x"], z1, z2, *[t * d for d in dummies]])
    np.testing.assert_allclose(lin["mean"], _ols(W, df["y"].to_numpy())[-4:])
    assert not np.allclose(out["mean"], lin["mean"])
    with pytest.raises(OptionError, match="baseline must be 'cells'"):
        hetfx.ols_interactions("y ~ x | t : z1", df, baseline="saturated")


def test_ols_baseline_of_a_binary_outcome_is_a_linear_probability_model():
    df = _survey()
    df["y"] = (df["y"] > 0.5).astype(int)
    out = hetfx.ols_interactions("y ~ x | t : z1", df)
    t, z1 = df["t"].to_numpy(dtype=float), df["z1"].to_numpy(dtype=float)
    W = np.column_stack([np.ones(len(df)), df["x"], z1, t * (z1 == 0), t * (z1 == 1)])
    np.testing.assert_allclose(out["mean"], _ols(W, df["y"].to_numpy())[-2:])


def test_categorical_coded_modifier_groups_by_level():
    rng = np.random.default_rng(1)
    n = 900
    df = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "t": np.tile([0, 1], n // 2),
            "ideo": np.repeat(np.arange(30), n // 30),
            "age": rng.integers(18, 90, n),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_level = hetfx.groups("y ~ 1 | t : C(ideo)", df)
        binned = hetfx.groups("y ~ 1 | t : ideo", df)
        mixed = hetfx.groups("y ~ 1 | t : C(ideo) + age", df, bins={"age": 2})
        forced = hetfx.groups("y ~ 1 | t : C(ideo)", df, bins={"ideo": 3})
    assert len(by_level) == 30 and by_level["group"].iloc[0] == "ideo=0"
    assert len(binned) == 4  # a raw numeric modifier is binned
    assert len(mixed) == 60  # C(ideo) by level, age in 2 bins
    assert len(forced) == 3  # an explicit bins= still wins


def test_cache_entry_that_fails_its_check_is_rebuilt_with_a_warning(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("HETFX_CACHE_DIR", str(tmp_path))
    entry = cache.entry_dir("fake-1.0", "prog")
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "module.so").write_text("compiled")
        (folder / "stderr.log").write_text("")

    def problem(folder):
        return None if (folder / "stderr.log").is_file() else "no stderr.log"

    assert cache.build_once(entry, build, problem, {"program": "hetfx_fake"})
    assert cache.read_meta(entry)["program"] == "hetfx_fake"
    assert not cache.build_once(entry, build, problem)
    (entry / "stderr.log").unlink()  # a compile killed half-way
    with pytest.warns(cache.BrokenCacheWarning, match="incomplete .no stderr.log"):
        assert cache.build_once(entry, build, problem)
    assert len(builds) == 2 and (entry / "stderr.log").is_file()

    def broken_build(folder):
        (folder / "module.so").write_text("compiled")

    with pytest.raises(RuntimeError, match="new build .* is incomplete"):
        cache.build_once(cache.entry_dir("fake-1.0", "other"), broken_build, problem)


def test_compile_is_announced_on_stderr(capsys):
    with cache.announce_compile("gaussian", "pystan", "2 minutes"):
        pass
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "hetfx: compiling the gaussian Stan program (pystan); once per machine, "
        "about 2 minutes."
    )
    assert err[1].startswith("hetfx: compiled the gaussian program in ")


def test_progress_is_shown_only_to_a_person(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert interactive() and sampler_options().show_progress
    assert not sampler_options(show_progress=False).show_progress
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert not sampler_options().show_progress
    # batch jobs have their own progress bar
    job = Job("a", pd.DataFrame(), "y ~ x | t : z")
    assert job.sampler_args()["show_progress"] is False


def test_family_names_are_listed_when_unknown():
    with pytest.raises(OptionError, match=r"aliases: normal \(gaussian\)"):
        hetfx.HetModel("y ~ x | t : z", family="logit")


def test_tomz_weeks_downloads_once_verifies_and_reads_the_cache(tmp_path, monkeypatch):
    if not TOMZ_WEEKS.is_file():
        pytest.skip(f"Tomz-Weeks data not found at {TOMZ_WEEKS}")
    monkeypatch.setenv("HETFX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HETFX_TOMZ_WEEKS_URL", raising=False)
    with pytest.raises(DataError, match="No download address .* pass its path"):
        hetfx.datasets.tomz_weeks()
    server = serve(TOMZ_WEEKS.parent)
    host, port = server.server_address
    try:
        url = f"http://{host}:{port}/{TOMZ_WEEKS.name}"
        df = hetfx.datasets.tomz_weeks(url=url)
    finally:
        server.shutdown()
        server.server_close()
    assert df.shape == (1200, 18) and df["alliance"].sum() == 602
    cached = tmp_path / "cache" / "data" / "tomz-weeks-2021" / TOMZ_WEEKS.name
    assert cached.read_bytes() == TOMZ_WEEKS.read_bytes()
    # the server is gone: the verified copy in the cache is read
    pd.testing.assert_frame_equal(hetfx.datasets.tomz_weeks(), df)
    # a local copy is read as it is
    pd.testing.assert_frame_equal(hetfx.datasets.tomz_weeks(TOMZ_WEEKS), df)
    with pytest.raises(DataError, match="No file at '/no/such.dta'. Get 2017-04"):
        hetfx.datasets.tomz_weeks("/no/such.dta")


def test_tomz_weeks_download_rejects_altered_files_and_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HETFX_CACHE_DIR", str(tmp_path / "cache"))
    served = tmp_path / "served"
    served.mkdir()
    (served / "2017-04-YouGov-extracted.dta").write_bytes(b"not the survey")
    server = serve(served)
    host, port = server.server_address
    try:
        url = f"http://{host}:{port}/2017-04-YouGov-extracted.dta"
        with pytest.raises(DataError, match="does not match the checksum"):
            hetfx.datasets.tomz_weeks(url=url)
        missing = f"http://{host}:{port}/missing.dta"
        with pytest.raises(DataError, match="Could not download .*HTTP Error 404"):
            hetfx.datasets.tomz_weeks(url=missing)
    finally:
        server.shutdown()
        server.server_close()
    # neither the altered file nor a partial one is left in the cache
    assert not list((tmp_path / "cache" / "data" / "tomz-weeks-2021").iterdir())
    # nothing listens on the port any more: offline
    monkeypatch.setenv("HETFX_TOMZ_WEEKS_URL", url)
    with pytest.raises(DataError, match="Could not download .* Get 2017-04"):
        hetfx.datasets.tomz_weeks()


def test_cells_without_untreated_units_have_no_saturated_estimate():
    df = _survey()
    only_treated = (df["z1"] == 1) & (df["z2"] == 1)
    df.loc[only_treated, "t"] = 1  # this cell has no control units
    with pytest.warns(RuntimeWarning, match="1 groups have no untreated units"):
        out = hetfx.ols_interactions("y ~ x | t : z1 + z2", df)
    row = out.set_index("group").loc["z1=1, z2=1"]
    assert np.isnan(row["mean"]) and np.isnan(row["upper"])
    assert out["mean"].notna().sum() == 3
    linear = hetfx.ols_interactions("y ~ x | t : z1 + z2", df, baseline="linear")
    assert linear["mean"].notna().all()
