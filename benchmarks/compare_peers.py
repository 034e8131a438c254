"""hetfx against brms and bambi + nutpie on the same models, in one run (not a test).

Models: the Tomz-Weeks respondent model (gaussian, and bernoulli on its binary
`force` outcome; ../shared/data) and the N = 5,000 design of bench_families.py
(bernoulli, poisson). Peers fit the same model in lme4 form,

    y ~ controls + z + t + t:z + (0 + t | grp)

with grp the hetfx group of each treated unit: brms through ``Rscript`` (compiled
before the timed sampling), bambi with the nutpie sampler through the Python named
by ``HETFX_BAMBI_PYTHON`` (a separate virtual environment). A peer that is not
installed is skipped with the reason. Every fit: 4 chains x (1000 + 1000).

Usage: python benchmarks/compare_peers.py [--backend pystan]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import hetfx
import hetfx.datasets

HERE = Path(__file__).resolve().parent

BRMS = r"""
suppressMessages(library(brms))
d <- read.csv("{csv}")
f <- bf({formula})
m <- brm(f, data = d, family = {family}, chains = 0, refresh = 0)
t0 <- Sys.time()
fit <- update(m, recompile = FALSE, chains = 4, cores = 2, iter = 2000,
              warmup = 1000, seed = 1, refresh = 0)
secs <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
s <- summary(fit)
ess <- min(c(s$fixed$Bulk_ESS, s$random$grp$Bulk_ESS))
np <- nuts_params(fit)
div <- sum(np$Value[np$Parameter == "divergent__"])
cat(sprintf('{{"seconds": %f, "min_ess": %f, "divergences": %d}}\n', secs, ess, div))
"""

BAMBI = r"""
import json, sys, time
import arviz as az, bambi as bmb, pandas as pd
d = pd.read_csv(sys.argv[1])
m = bmb.Model(sys.argv[2], d, family=sys.argv[3])
t0 = time.perf_counter()
idata = m.fit(draws=1000, tune=1000, chains=4, inference_method="nutpie", random_seed=1)
secs = time.perf_counter() - t0
ess = float(az.ess(idata).to_array().min())
stats = idata.sample_stats
div = int(stats["diverging"].sum()) if "diverging" in stats else -1
print(json.dumps({"seconds": secs, "min_ess": ess, "divergences": div}))
"""


def lme4_formula(fit: hetfx.HetFit) -> tuple[str, pd.DataFrame]:
    """The peers' formula and data: controls, modifiers, t, t:z, (0 + t | grp)."""
    design = fit.design
    eq = design.equations[0]
    data = pd.DataFrame(design.X, columns=[f"x{j}" for j in range(design.X.shape[1])])
    for j in range(eq.Z.shape[1]):
        data[f"z{j}"] = eq.Z[:, j]
    data["t"] = eq.arm.values
    # untreated units (t = 0) carry no group effect; any level will do
    data["grp"] = np.where(eq.grouping.index >= 0, eq.grouping.index, 0).astype(str)
    data["y"] = design.y
    xs = " + ".join(c for c in data.columns if c.startswith("x")) or "1"
    zs = [c for c in data.columns if c.startswith("z")]
    inter = " + ".join(f"t:{z}" for z in zs)
    return f"y ~ {xs} + t + {inter} + (0 + t | grp)", data


def run_brms(formula: str, data: pd.DataFrame, family: str) -> dict | str:
    if shutil.which("Rscript") is None:
        return "skipped: Rscript not found (apt-get install r-cran-brms r-cran-rstan)"
    probe = subprocess.run(
        ["Rscript", "-e", "library(brms)"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return "skipped: R has no brms package"
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        data.to_csv(csv, index=False)
        fam = {"gaussian": "gaussian()", "bernoulli": "bernoulli()"}.get(
            family, "poisson()"
        )
        code = BRMS.format(csv=csv, formula=formula, family=fam)
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True)
    if out.returncode != 0:
        return f"failed: {out.stderr.strip().splitlines()[-1:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_bambi(formula: str, data: pd.DataFrame, family: str) -> dict | str:
    python = os.environ.get("HETFX_BAMBI_PYTHON")
    if not python:
        return "skipped: set HETFX_BAMBI_PYTHON to a Python with bambi and nutpie"
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        data.to_csv(csv, index=False)
        out = subprocess.run(
            [python, "-c", BAMBI, str(csv), formula, family],
            capture_output=True,
            text=True,
        )
    if out.returncode != 0:
        return f"failed: {out.stderr.strip().splitlines()[-1:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_hetfx(formula, data, family, backend, **kw) -> tuple[dict, hetfx.HetFit]:
    model = hetfx.HetModel(formula, family=family, backend=backend, **kw)
    model.compile()
    # imported before the clock starts, as the peers' libraries are (the
    # import times are benchmarks/bench_startup.py's)
    import arviz  # noqa: F401

    if model.backend.name == "pystan":
        import stan  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        fit = model.fit(data, seed=1, show_progress=False)
        seconds = time.perf_counter() - start
    diag = fit.diagnostics()
    return {
        "seconds": seconds,
        "min_ess": float(diag["min_ess_bulk"]),
        "divergences": int(diag["divergences"]),
    }, fit


def designs() -> list[tuple[str, str, pd.DataFrame, str, dict]]:
    sys.path.insert(0, str(HERE))
    from bench_families import benchmark_design

    out = []
    tw = HERE.parent.parent / "shared" / "data" / "tomz-weeks-2021"
    if tw.is_dir():
        from bench_fit import FORMULA, tomz_weeks

        data = tomz_weeks()
        out.append(("Tomz-Weeks", FORMULA, data, "gaussian", {}))
        out.append(("Tomz-Weeks", FORMULA, data, "bernoulli", {"main_effects": False}))
    else:
        print("Tomz-Weeks skipped: ../shared/data/tomz-weeks-2021 not found")
    for family in ("bernoulli", "poisson"):
        sim = benchmark_design(family)
        data = sim.data.drop(columns=["exposure"], errors="ignore")
        out.append(("N = 5,000, 32 groups", sim.formula, data, family, {}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    print(
        f"{'model':22s} {'family':10s} {'tool':6s} {'seconds':>8s} {'ratio':>6s}"
        f" {'ESS/s':>7s} {'div':>5s}"
    )
    for name, formula, data, family, kw in designs():
        ours, fit = run_hetfx(formula, data, family, args.backend, **kw)
        rows = [("hetfx", ours)]
        peer_formula, peer_data = lme4_formula(fit)
        rows.append(("brms", run_brms(peer_formula, peer_data, family)))
        rows.append(("bambi", run_bambi(peer_formula, peer_data, family)))
        for tool, res in rows:
            if isinstance(res, str):
                print(f"{name:22s} {family:10s} {tool:6s} {res}")
                continue
            ratio = res["seconds"] / ours["seconds"]
            print(
                f"{name:22s} {family:10s} {tool:6s} {res['seconds']:8.1f} {ratio:6.1f}"
                f" {res['min_ess'] / res['seconds']:7.0f} {res['divergences']:5d}"
            )


if __name__ == "__main__":
    main()
