"""Benchmark of every family: warm fit time and minimum ESS (not a test).

A common simulated design (N = 5,000, 5 binary modifiers: 32 groups, 2 controls),
4 chains of 1000 + 1000, and the bernoulli model of the Tomz-Weeks `force`
outcome (../shared/data).

Besides the time of each warm fit, the CPU its chains spent ("chains"), the
fit's own process ("own"), and the floor that sets: the chains' CPU over the
cores that run them (benchmarks/cpu_time.py).

Usage: python benchmarks/bench_families.py [--backend pystan] [--n 5000]
    [--families student_t ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

from cpu_time import cpu_time

import hetfx

HERE = Path(__file__).resolve().parent
FAMILIES = hetfx.datasets.FAMILIES


def benchmark_design(family: str, n: int = 5000, seed: int = 1):
    """The common simulated design: 5 binary modifiers (32 groups), 2
    continuous controls, a count outcome's intercept 0.5."""
    return hetfx.datasets.simulate(
        n=n,
        n_modifiers=5,
        n_controls=2,
        family=family,
        seed=seed,
        alpha=0.5 if family in ("poisson", "negative_binomial") else 0.0,
    )


def bench_family(family: str, n: int, backend: str) -> None:
    sim = benchmark_design(family, n)
    model = hetfx.HetModel(sim.formula, family=sim.family_object, backend=backend)
    start = time.perf_counter()
    model.compile()
    compile_s = time.perf_counter() - start
    # imported before the clock starts (import times: bench_startup.py)
    import arviz  # noqa: F401

    if model.backend.name == "pystan":
        import stan  # noqa: F401
    with warnings.catch_warnings(), cpu_time() as cpu:
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        fit = model.fit(sim.data, seed=1)
        warm = time.perf_counter() - start
    diag = fit.diagnostics()
    rows = fit.info.get("aggregated_rows", n)
    print(
        f"  {family:18s} {compile_s:8.1f} {warm:9.2f} {diag['min_ess_bulk']:9.0f}"
        f" {diag['divergences']:6d} {rows:8d} {cpu.chains:7.1f} {cpu.own:5.1f}"
        f" {cpu.floor(fit.options['cores']):6.1f}"
    )


def bench_tomz_weeks(backend: str) -> None:
    import sys

    sys.path.insert(0, str(HERE))
    from bench_fit import FORMULA, tomz_weeks

    data = tomz_weeks()
    model = hetfx.HetModel(
        FORMULA, family="bernoulli", main_effects=False, backend=backend
    )
    model.compile()
    with warnings.catch_warnings(), cpu_time() as cpu:
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        fit = model.fit(data, seed=1)
        warm = time.perf_counter() - start
    ate = fit.ate(scale="response").iloc[0]
    print(
        f"\nTomz-Weeks force (bernoulli, 24 groups): warm fit {warm:.2f} s "
        f"(chains' CPU {cpu.chains:.1f} s, the fit's process {cpu.own:.1f} s), "
        f"min ESS {fit.diagnostics()['min_ess_bulk']:.0f}, "
        f"{fit.info['aggregated_rows']} distinct rows of 1200; ATE "
        f"{ate['mean']:.3f} probability points ({ate['lower']:.3f}, "
        f"{ate['upper']:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, hetfx {hetfx.__version__}"
    )
    print(f"\nN = {args.n}, 32 groups, 4 chains x (1000 + 1000)")
    print(
        f"  {'family':18s} {'compile':>8s} {'warm fit':>9s} {'min ESS':>9s}"
        f" {'div':>6s} {'rows':>8s} {'chains':>7s} {'own':>5s} {'floor':>6s}"
    )
    for family in args.families:
        bench_family(family, args.n, args.backend)
    if (HERE.parent.parent / "shared" / "data" / "tomz-weeks-2021").is_dir():
        bench_tomz_weeks(args.backend)


if __name__ == "__main__":
    main()
