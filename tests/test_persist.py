"""Saved fits: the model spec as versioned JSON beside the draws, no pickle."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import hetfx
from hetfx.design.build import build_design
from hetfx.design.layout import Layout
from hetfx.design.spec import ModelSpec
from hetfx.jsonable import Encoder, decode


def survey(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "rating": pd.Categorical(
                rng.choice(["low", "mid", "high"], n),
                categories=["low", "mid", "high"],
                ordered=True,
            ),
            "x": rng.normal(size=n),
            "region": rng.choice(["north", "south", "east"], n),
            "urban": rng.random(n) < 0.4,
            "age": rng.uniform(18, 80, n),
            "dem": rng.integers(0, 2, n),
            "treat": rng.integers(0, 2, n),
            "arm": rng.choice(["ctl", "low", "high"], n),
        }
    )


FORMULAS = [
    ("y ~ x + C(region) + urban | treat : dem + age", {}),
    (
        "y ~ center(x) + poly(age, 2) | treat : C(region) + age",
        {"bins": {"age": 3}, "main_effects": False},
    ),
    ("rating ~ x | arm : dem + age", {"control": {"arm": "ctl"}}),
    ("y ~ np.log(age) | treat : 1", {}),
]


def round_trip(value):
    encode = Encoder()
    text = json.dumps(encode(value))
    return decode(json.loads(text), dict(encode.arrays)), encode.arrays


@pytest.mark.parametrize(("formula", "options"), FORMULAS)
def test_design_round_trips_through_json(formula, options):
    train, new = survey(300, 1), survey(25, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        design = build_design(formula, train, **options)
    loaded, arrays = round_trip(design.without_frame())
    assert arrays and all(a.dtype != object for a in arrays.values())
    assert loaded.spec == design.spec == ModelSpec.from_json(design.spec.to_json())
    assert loaded.layout == design.layout
    assert Layout.from_dict(json.loads(json.dumps(design.layout.to_dict()))) == (
        design.layout
    )
    np.testing.assert_array_equal(np.asarray(loaded.y), np.asarray(design.y))
    np.testing.assert_array_equal(loaded.X, design.X)
    assert loaded.x_names == design.x_names and loaded.formula == design.formula
    pd.testing.assert_frame_equal(loaded.group_table(), design.group_table())
    for got, want in zip(loaded.equations, design.equations, strict=True):
        assert got.label == want.label and got.z_names == want.z_names
        np.testing.assert_array_equal(got.Z, want.Z)
        np.testing.assert_array_equal(got.arm.values, want.arm.values)
        np.testing.assert_array_equal(got.grouping.index, want.grouping.index)
        assert got.grouping.coders.keys() == want.grouping.coders.keys()
    # new data: the formulaic state and the coders give the same columns, groups
    (X1, Z1, g1), (X0, Z0, g0) = loaded.new_rows(new), design.new_rows(new)
    np.testing.assert_array_equal(X1, X0)
    for a, b in [*zip(Z1, Z0, strict=True), *zip(g1, g0, strict=True)]:
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        loaded.treatment_values(new), design.treatment_values(new), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_only_hetfx_and_formulaic_types_are_saved_or_loaded():
    with pytest.raises(hetfx.DataError, match="Cannot save the info.*Path"):
        from pathlib import Path

        Encoder()({"where": Path("/tmp")}, "the info")
    forged = {"__dataclass__": "subprocess:Popen", "fields": {"args": "true"}}
    with pytest.raises(hetfx.DataError, match="'subprocess:Popen', which hetfx"):
        decode(forged, {})


@pytest.mark.sampling
def test_saved_fit_loads_in_a_fresh_process(gaussian_model, tmp_path):
    sim = hetfx.datasets.simulate(n=400, n_modifiers=2, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        fit = gaussian_model.fit(sim.data, chains=2, iter_warmup=200, iter_sampling=200)
    fit.ppc(ndraws=20)  # puts posterior_predictive and observed_data into idata
    folder = fit.save(tmp_path / "fit")
    assert sorted(p.name for p in folder.iterdir()) == [
        "arrays.npz",
        "posterior.nc",
        "spec.json",
    ]
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["format"] == 2 and spec["formula"] == sim.formula
    assert ModelSpec.from_dict(spec["model_spec"]) == fit.spec
    assert Layout.from_dict(spec["model_spec"]["layout"]) == fit.design.layout
    script = (
        "import sys, hetfx\n"
        "fit = hetfx.load(sys.argv[1])\n"
        "fit.effects().to_csv(sys.argv[2] + '/effects.csv', index=False)\n"
        "fit.modifiers().to_csv(sys.argv[2] + '/modifiers.csv', index=False)\n"
        "print(sorted(fit.idata.groups()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "posterior_predictive" in done.stdout
    for name in ("effects", "modifiers"):
        again = pd.read_csv(tmp_path / f"{name}.csv")
        want = getattr(fit, name)().reset_index(drop=True)
        np.testing.assert_allclose(
            again.select_dtypes("number").to_numpy(),
            want.select_dtypes("number").to_numpy(),
            rtol=1e-12,
        )

    spec["format"] = 99
    (folder / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(hetfx.DataError, match="saved in format 99 .* reads format 2"):
        hetfx.load(folder)
    old = tmp_path / "old"
    old.mkdir()
    (old / "state.pkl").write_bytes(b"")
    with pytest.raises(hetfx.DataError, match="format 1 \\(a pickle\\)"):
        hetfx.load(old)
