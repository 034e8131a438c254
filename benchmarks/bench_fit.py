"""Benchmark of the fitting core: prints measured figures (not a test).

1. The Tomz-Weeks respondent specification (../shared/data), 4 chains of
   1000 + 1000: compile time, warm fit time, ESS per second of the group effects,
   peak memory.
2. The gaussian model on 10^4, 10^5 and 10^6 simulated rows (64 groups, 10
   controls): warm fit time, split into design + sufficient statistics and sampling.

Each warm fit also prints the CPU its chains spent, the floor that sets on the
cores that run them, and the fit's own process's CPU (benchmarks/cpu_time.py).

Usage: python benchmarks/bench_fit.py [--backend pystan] [--cold] [--max-rows 1e6]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from cpu_time import cpu_time

import hetfx

ROOT = Path(__file__).resolve().parent.parent
TOMZ_WEEKS = ROOT.parent / "shared" / "data" / "tomz-weeks-2021"
FORMULA = hetfx.datasets.TOMZ_WEEKS_FORMULA


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its children, in MB (Linux: KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024**2
    return max(own, kids) * scale


def tomz_weeks() -> pd.DataFrame:
    return hetfx.datasets.tomz_weeks(TOMZ_WEEKS / "2017-04-YouGov-extracted.dta")


def forget_program(model: hetfx.HetModel) -> None:
    """Remove the compiled program from the caches, for a cold compile."""
    import shutil

    from hetfx.backends.cache import cache_dir

    if model.backend.name == "pystan":
        import httpstan.cache
        import httpstan.models

        name = httpstan.models.calculate_model_name(model.program)
        httpstan.cache.delete_model_directory(name)
    tag = cache_dir() / model.backend.version_tag()
    for entry in tag.glob("*"):
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()


def bench_tomz_weeks(backend: str, cold: bool) -> None:
    if not TOMZ_WEEKS.is_dir():
        print(f"Tomz-Weeks data not found at {TOMZ_WEEKS}; skipped")
        return
    data = tomz_weeks()
    model = hetfx.HetModel(FORMULA, main_effects=False, backend=backend)
    if cold:
        forget_program(model)
    start = time.perf_counter()
    compiled = model.compile()
    compile_s = time.perf_counter() - start
    state = "compiled" if compiled.compiled_now else "loaded from the cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hetfx.GroupingWarning)
        # the first fit of a process also imports arviz and the backend's
        # sampler and loads the program; the second (another seed) is warm
        seconds = []
        for seed in (2, 1):
            with cpu_time() as cpu:
                start = time.perf_counter()
                fit = model.fit(
                    data, chains=4, iter_warmup=1000, iter_sampling=1000, seed=seed
                )
                seconds.append(time.perf_counter() - start)
    first, warm = seconds
    eff = fit.effects()
    sampling = fit.timing["sampling"]
    print("Tomz-Weeks respondent specification (gaussian, 24 groups, 1200 units)")
    print(f"  backend            {fit.backend}")
    print(f"  compile            {compile_s:8.1f} s ({state})")
    print(f"  first fit          {first:8.2f} s (imports arviz, loads the program)")
    print(f"  warm fit           {warm:8.2f} s (sampling {sampling:.2f} s)")
    cores = fit.options["cores"]
    print(
        f"  CPU of the chains  {cpu.chains:8.2f} s (over {cores} cores: a floor of "
        f"{cpu.floor(cores):.2f} s); the fit's process {cpu.own:.2f} s"
    )
    print(
        f"  ESS/s, groups      min {eff['ess_bulk'].min() / warm:8.0f}   "
        f"median {eff['ess_bulk'].median() / warm:8.0f}  (bulk ESS per warm-fit s)"
    )
    diag = fit.diagnostics()
    print(
        f"  diagnostics        divergences {diag['divergences']}, max R-hat "
        f"{diag['max_rhat']:.3f}, min bulk ESS {diag['min_ess_bulk']:.0f}"
    )
    print(f"  peak memory        {peak_memory_mb():8.0f} MB (process and children)")


def simulate_rows(n: int, seed: int = 0) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    cols = {f"x{k}": rng.normal(size=n) for k in range(1, 11)}
    Z = rng.integers(0, 2, size=(n, 6))
    for j in range(6):
        cols[f"z{j + 1}"] = Z[:, j]
    treat = rng.integers(0, 2, n)
    theta = 0.2 + Z @ np.array([0.1, -0.1, 0.2, 0.0, 0.05, -0.05])
    theta += 0.2 * rng.normal(size=64)[Z @ (2 ** np.arange(6))]
    y = sum(0.1 * cols[f"x{k}"] for k in range(1, 11)) + treat * theta
    cols["y"] = y + rng.normal(size=n)
    cols["treat"] = treat
    controls = " + ".join(f"x{k}" for k in range(1, 11))
    modifiers = " + ".join(f"z{j + 1}" for j in range(6))
    return f"y ~ {controls} | treat : {modifiers}", pd.DataFrame(cols)


def bench_rows(backend: str, max_rows: int) -> None:
    print("\nGaussian model, 64 groups, 10 controls: warm fit time against N")
    print(
        f"  {'rows':>9s} {'design+suffstats':>17s} {'sampling':>9s} {'rest':>6s}"
        f" {'total':>8s} {'chains CPU':>11s} {'floor':>6s} {'own CPU':>8s}"
    )
    print("  (default settings: the collapsed gaussian program)")
    formula, _ = simulate_rows(1000)
    model = hetfx.HetModel(formula, backend=backend)
    model.compile()
    n = 10_000
    while n <= max_rows:
        _, data = simulate_rows(n)
        with cpu_time() as cpu:
            start = time.perf_counter()
            fit = model.fit(
                data, chains=4, iter_warmup=1000, iter_sampling=1000, seed=1
            )
            total = time.perf_counter() - start
        design, sampling = fit.timing["design"], fit.timing["sampling"]
        rest = total - design - sampling  # tables of the fit, convergence checks
        floor = cpu.floor(fit.options["cores"])
        print(
            f"  {n:9d} {design:16.2f}s {sampling:8.2f}s {rest:5.2f}s {total:7.2f}s"
            f" {cpu.chains:10.2f}s {floor:5.2f}s {cpu.own:7.2f}s"
            f"   min ESS {fit.diagnostics()['min_ess_bulk']:.0f}"
            f"   divergences {fit.diagnostics()['divergences']}"
        )
        n *= 10
    print(f"  peak memory {peak_memory_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--cold", action="store_true", help="compile from scratch")
    parser.add_argument("--max-rows", type=float, default=1e6)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_version()}, hetfx {hetfx.__version__}\n"
    )
    bench_tomz_weeks(args.backend, args.cold)
    bench_rows(args.backend, int(args.max_rows))


if __name__ == "__main__":
    main()
