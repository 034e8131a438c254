"""Shared fixtures: one cache folder and one compiled program per family."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hetfx

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TOMZ_WEEKS = SHARED_DATA / "tomz-weeks-2021" / "2017-04-YouGov-extracted.dta"

# one cache folder for the whole session (CI sets HETFX_CACHE_DIR to keep it)
os.environ.setdefault("HETFX_CACHE_DIR", str(ROOT / ".pytest_cache" / "hetfx-cache"))


def pytest_report_header(config):
    from hetfx.backends import BACKENDS
    from hetfx.backends.cache import cache_dir

    lines = [f"hetfx cache: {cache_dir()}"]
    for name, cls in BACKENDS.items():
        ok, why = cls.available()
        lines.append(f"backend {name}: {'available' if ok else why}")
    return lines


def tomz_weeks_frame() -> pd.DataFrame:
    """The paper's respondent-heterogeneity variables, from the raw coding."""
    if not TOMZ_WEEKS.is_file():
        pytest.skip(
            f"Tomz-Weeks data not found at {TOMZ_WEEKS} (../shared/data absent)"
        )
    from hetfx.datasets import tomz_weeks

    return tomz_weeks(TOMZ_WEEKS)


TOMZ_WEEKS_FORMULA = hetfx.datasets.TOMZ_WEEKS_FORMULA


@pytest.fixture(scope="session")
def tomz_weeks() -> pd.DataFrame:
    return tomz_weeks_frame()


def _pystan_or_skip():
    from hetfx.backends import PystanBackend

    ok, why = PystanBackend.available()
    if not ok:
        pytest.skip(f"pystan backend not available: {why}")


@pytest.fixture(scope="session")
def gaussian_model():
    """The gaussian program, compiled once for the session (pystan)."""
    _pystan_or_skip()
    from hetfx import HetModel

    model = HetModel("y ~ x1 + x2 | treat : z1 + z2", backend="pystan")
    model.compile()
    return model


@pytest.fixture(scope="session")
def uncollapsed_gaussian_model():
    """The gaussian program that samples every parameter (pystan)."""
    _pystan_or_skip()
    from hetfx import HetModel

    model = HetModel("y ~ x1 + x2 | treat : z1 + z2", backend="pystan", collapsed=False)
    model.compile()
    return model


@pytest.fixture(scope="session")
def bernoulli_model():
    """The bernoulli program, compiled once for the session (pystan)."""
    _pystan_or_skip()
    from hetfx import HetModel

    model = HetModel(
        "y ~ x1 + x2 | treat : z1 + z2", family="bernoulli", backend="pystan"
    )
    model.compile()
    return model


@pytest.fixture
def small_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "t": np.tile([0, 1], n // 2),
            "z": np.repeat([0, 1, 0, 1], n // 4),
            "w": np.tile(["a", "b", "c"], n // 3),
        }
    )
