"""Shared fixtures: one cache folder and one compiled program per family."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import strategies as st

import hetfx

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TOMZ_WEEKS = SHARED_DATA / "tomz-weeks-2021" / "2017-04-YouGov-extracted.dta"

# one cache folder for the whole session (CI sets HETFX_CACHE_DIR to keep it)
os.environ.setdefault("HETFX_CACHE_DIR", str(ROOT / ".pytest_cache" / "hetfx-cache"))


def load_benchmark(name: str):
    """A benchmark script as a module (its folder on the path for its imports)."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would (dataclasses look it up)
    spec.loader.exec_module(module)
    return module


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


def categorical_experiment(seed: int = 5, n: int = 3000) -> pd.DataFrame:
    """A three-category outcome (A the reference) of a binary treatment t with
    binary modifiers z1, z2 and a control x: 4 groups of treated units."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "t": rng.integers(0, 2, n),
            "z1": rng.integers(0, 2, n),
            "z2": rng.integers(0, 2, n),
            "x": rng.normal(size=n),
        }
    )
    logits = np.column_stack(
        [np.zeros(n), 0.6 + 0.5 * df.t * df.z1, 0.2 + 0.4 * df.t * df.z2 + 0.3 * df.x]
    )
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    df["y"] = np.array(["A", "B", "C"])[(rng.uniform(size=(n, 1)) > p.cumsum(1)).sum(1)]
    return df


@st.composite
def designs(draw):
    """A random formula with 1-2 treatments, 0-3 modifiers and 0-2 controls."""
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(60, 200))
    n_controls = draw(st.integers(0, 2))
    frame = pd.DataFrame({"y": rng.normal(size=n)})
    for k in range(n_controls):
        frame[f"x{k}"] = rng.normal(size=n)
    parts = []
    for t in range(draw(st.integers(1, 2))):
        frame[f"t{t}"] = rng.integers(0, 2, n)
        mods = []
        for m in range(draw(st.integers(0, 3))):
            name = f"z{t}{m}"
            kind = draw(st.sampled_from(["binary", "levels", "continuous"]))
            if kind == "binary":
                frame[name] = rng.integers(0, 2, n)
            elif kind == "levels":
                frame[name] = rng.integers(0, 3, n)
            else:
                frame[name] = rng.normal(size=n)
            mods.append(name)
        parts.append(f"t{t} : {' + '.join(mods) or '1'}")
    controls = " + ".join(f"x{k}" for k in range(n_controls)) or "1"
    return f"y ~ {controls} | " + " | ".join(parts), frame


def serve(folder: Path) -> http.server.ThreadingHTTPServer:
    """A local HTTP server of ``folder``: downloads are tested offline."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(folder)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def declared_names(code: str, block: str = "parameters") -> list[str]:
    """Names declared in a block of a Stan program (``parameters``, ``data``),
    in order."""
    import re

    start = re.search(rf"(?m)^{block} \{{", code).end()
    depth, end = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(code[end], 0)
        end += 1
    body = re.sub(r"//[^\n]*", "", code[start : end - 1])
    return [
        re.findall(r"(\w+)\s*$", s.strip())[0] for s in body.split(";") if s.strip()
    ]


def stan_log_likelihood(program: str, data: dict, posterior, draws) -> np.ndarray:
    """The program's log likelihood (log density minus its prior-only log
    density) at chain 0's ``draws`` of ``posterior``, through pystan."""
    import stan
    from hetfx.backends.pystan_backend import to_pystan_data

    full, prior = (
        stan.build(program, data=to_pystan_data(d), random_seed=1)
        for d in (data, {**data, "prior_only": 1})
    )
    names = declared_names(program)
    out = []
    for draw in draws:
        values = {n: sampled_value(n, posterior, draw) for n in names}
        u = full.unconstrain_pars(values)
        out.append(
            full.log_prob(u, adjust_transform=False)
            - prior.log_prob(u, adjust_transform=False)
        )
    return np.array(out)


def sampled_value(name: str, posterior, draw: int) -> list:
    """Chain 0's ``draw`` of a parameter the program samples, from idata: the
    log scales and free cutpoints idata leaves out from the values it has."""
    if name in posterior:
        return posterior[name].values[0, draw].tolist()
    reported = {
        "log_sigma": "sigma",
        "log_phi": "phi",
        "log_nu_minus_one": "nu",
        "cutpoints_free": "cutpoints_raw",
    }.get(name)
    if reported not in posterior:  # zero-length (phi of the poisson family)
        return []
    value = np.atleast_1d(posterior[reported].values[0, draw])
    if name == "cutpoints_free":  # the first cutpoint and the log gaps
        return np.r_[value[:1], np.log(np.diff(value))].tolist()
    if name == "log_nu_minus_one":
        return float(np.log(value[0] - 1))
    # an unused sigma_theta is reported as 0; any value serves the likelihood
    log = np.log(np.maximum(value, 1e-3))
    return log.tolist() if np.ndim(posterior[reported].values) > 2 else float(log[0])


def merging_model(sim, **options):
    """A model of ``sim`` (a hetfx.datasets.simulate or survey result) whose
    rows merge: its controls x1 and x2 made binary, so that rows repeat; the
    gaussian program that samples the coefficients (the collapsed one's
    likelihood is the marginal: tests/test_collapsed.py)."""
    for x in ("x1", "x2"):
        sim.data[x] = (sim.data[x] > 0).astype(float)
    gaussian = sim.family == "gaussian"
    return hetfx.HetModel(
        sim.formula,
        family=sim.family_object,
        collapsed=False if gaussian else None,
        **options,
    )


def short_fit(model, data):
    """A short fit, and its Stan data with merged rows and with one row per unit."""
    from hetfx.program.standata import build_stan_input

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(data, chains=1, iter_warmup=150, iter_sampling=20, seed=3)
        merged = build_stan_input(fit.design, fit.family_obj).data
        one_by_one = build_stan_input(fit.design, fit.family_obj, aggregate=False).data
    return fit, merged, one_by_one


# the Stan data that fix where theta_raw puts each group effect (group_effects_lp)
# and where sigma_theta_free puts sigma_theta (pooling_scale); in the
# categorical program also where the sampled z put alpha, beta, a, lambda and
# theta_raw (category_correlation)
GROUP_COORDINATES = (
    "theta_level",
    "pilot_variance",
    "noncentred",
    "theta_scale",
    "sigma_theta_reference",
    "pilot_variance_c",  # the categorical program's, per category
    "theta_level_c",
    "sigma_theta_reference_c",
    "coef_loc_c",
    "coef_scale_c",
    "corr_controls",
    "corr_treated",
    "corr_groups",
)


def check_likelihood(model, fit, merged, one_by_one, numpy_ll, draws=(0, 9, 19)):
    """Stan's likelihood of the merged rows equals that of the rows one by one
    and numpy's ``numpy_ll`` (per draw), up to a constant: normalising terms,
    e.g. the binomial coefficient of merged rows, may differ, so differences
    between draws are compared."""
    post = fit.idata.posterior
    # theta_raw's and sigma_theta_free's origin and unit come from the pilot,
    # which merged rows may
    # estimate differently (the ordinal family's residual scale): the rows one by
    # one take the fit's, so that the same theta_raw is the same theta
    rows = {**one_by_one, **{k: merged[k] for k in GROUP_COORDINATES if k in merged}}
    stan_diff = np.diff(stan_log_likelihood(model.program, merged, post, draws))
    rows_diff = np.diff(stan_log_likelihood(model.program, rows, post, draws))
    np.testing.assert_allclose(stan_diff, rows_diff, rtol=1e-7, atol=1e-6)
    numpy_diff = np.diff(np.asarray(numpy_ll)[list(draws)])
    np.testing.assert_allclose(stan_diff, numpy_diff, rtol=1e-7, atol=1e-6)
    assert np.abs(stan_diff).max() > 0  # the draws differ, so the check has teeth
