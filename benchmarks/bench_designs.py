"""Warm fit times of the worked designs (not a test): the weighted Tomz-Weeks
survey, the multi-site trial, and conjoints of 500 x 6 and 2,000 x 10.

Each model is compiled (or loaded from the cache) first; the time printed is
the fit alone (design, Stan data and sampling), 4 chains of 1000 + 1000.

Usage: python benchmarks/bench_designs.py [--backend pystan]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import hetfx

TOMZ_WEEKS = (
    Path(__file__).resolve().parents[2]
    / "shared/data/tomz-weeks-2021/2017-04-YouGov-extracted.dta"
)


def designs() -> dict[str, tuple[str, object, dict]]:
    out = {}
    if TOMZ_WEEKS.is_file():
        df = hetfx.datasets.tomz_weeks(TOMZ_WEEKS)
        formula = hetfx.datasets.TOMZ_WEEKS_FORMULA
        options = {"main_effects": False, "weights": "weight"}
        out["Tomz-Weeks, weighted, gaussian"] = (formula, df, options)
        out["Tomz-Weeks, weighted, bernoulli"] = (
            formula,
            df,
            {**options, "family": "bernoulli"},
        )
    else:
        print(f"skipped Tomz-Weeks: no file at {TOMZ_WEEKS}")
    sites = hetfx.datasets.simulate_sites(seed=7)
    out["multi-site trial (40 sites)"] = (
        sites.formula,
        sites.data,
        {"main_effects": False},
    )
    for respondents, tasks in ((500, 6), (2000, 10)):
        sim = hetfx.datasets.simulate_conjoint(respondents, tasks, seed=5)
        out[f"conjoint {respondents} x {tasks}"] = (sim.formula, sim.data, {})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    print(f"{'design':34s} {'rows':>7s} {'fit s':>7s} {'div':>4s} {'min ESS':>8s}")
    for name, (formula, data, options) in designs().items():
        model = hetfx.HetModel(formula, backend=args.backend, **options)
        model.compile()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            fit = model.fit(data, seed=1, show_progress=False)
            seconds = time.perf_counter() - start
        diag = fit.diagnostics()
        print(
            f"{name:34s} {len(data):7d} {seconds:7.1f} {diag['divergences']:4d} "
            f"{diag['min_ess_bulk']:8.0f}  ({fit.info['program']})"
        )


if __name__ == "__main__":
    main()
