"""Benchmark of exact aggregation: warm fits of a factorial design (discrete
controls and modifiers) with repeated rows merged and one unit a row (not a
test).

Usage: python benchmarks/bench_aggregation.py [--backend pystan] [--n 5000]
    [--families negative_binomial ...]
"""

from __future__ import annotations

import argparse
import time
import warnings

from bench_families import benchmark_design

import hetfx


def factorial(n: int, family: str, seed: int = 1):
    """The benchmark design with both controls binary (and every exposure 1),
    so that rows repeat."""
    sim = benchmark_design(family, n, seed)
    for x in ("x1", "x2"):
        sim.data[x] = (sim.data[x] > 0).astype(float)
    if "exposure" in sim.data:  # one exposure for all, else no row repeats
        sim.data["exposure"] = 1.0
    return sim


def bench(family: str, n: int, backend: str) -> None:
    sim = factorial(n, family)
    model = hetfx.HetModel(sim.formula, family=sim.family_object, backend=backend)
    model.compile()
    for aggregate in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            fit = model.fit(sim.data, seed=1, aggregate=aggregate)
            warm = time.perf_counter() - start
        diag = fit.diagnostics()
        print(
            f"  {family:18s} {str(aggregate):9s} {fit.info['aggregated_rows']:6d}"
            f" {warm:9.2f} {diag['min_ess_bulk']:8.0f} {diag['divergences']:4d}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument(
        "--families",
        nargs="+",
        default=["bernoulli", "poisson", "negative_binomial", "ordinal"],
    )
    args = parser.parse_args()
    print(f"N = {args.n}, 32 groups, 2 binary controls, 4 chains x (1000 + 1000)")
    print(
        f"  {'family':18s} {'aggregate':9s} {'rows':>6s} {'warm fit':>9s}"
        f" {'min ESS':>8s} {'div':>4s}"
    )
    for family in args.families:
        bench(family, args.n, args.backend)


if __name__ == "__main__":
    main()
