"""Memory and time of comparisons, slopes and hypotheses on a large fit (prints
figures; not a test): 100,000 rows and 4,000 draws by default, against the
target of a peak under 2 GB.

Usage: python benchmarks/bench_interpret.py [--rows 100000] [--backend pystan]
"""

from __future__ import annotations

import argparse
import threading
import time
import warnings

import numpy as np
import pandas as pd
import psutil

import hetfx


class PeakMemory:
    """The process's peak resident memory while the block runs (sampled)."""

    def __init__(self, every: float = 0.01) -> None:
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._process = psutil.Process()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> PeakMemory:
        self.start = self._process.memory_info().rss
        self.peak = self.start
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def simulate(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "t": rng.integers(0, 2, n),
            "dem": rng.integers(0, 2, n),
            "female": rng.integers(0, 2, n),
            "age": rng.uniform(18, 90, n),
        }
    )
    effect = 0.2 + 0.2 * df["dem"] - 0.1 * df["female"] + 0.005 * (df["age"] - 50)
    df["y"] = 0.5 * df["x1"] + df["t"] * effect + rng.normal(size=n)
    return df


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    df = simulate(args.rows)
    formula = "y ~ x1 + x2 | t : dem + female + age"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hetfx.fit(formula, df, backend=args.backend, seed=1)
    post = fit.idata.posterior
    draws = post.sizes["chain"] * post.sizes["draw"]
    print(f"{args.rows:,} rows, {draws:,} draws, {len(fit.effects())} groups")
    grid = hetfx.datagrid(fit, age=[20, 40, 60, 80], dem=[0, 1])
    calls = {
        "comparisons(by='dem')": lambda: fit.comparisons(by="dem"),
        "comparisons(by='dem', scale='response')": lambda: fit.comparisons(
            by="dem", scale="response"
        ),
        "slopes('age')": lambda: fit.slopes("age"),
        "comparisons(newdata=datagrid(...))": lambda: fit.comparisons(
            by=["age", "dem"], newdata=grid
        ),
        "hypotheses('dem + female > 0')": lambda: fit.hypotheses("dem + female > 0"),
    }
    for label, call in calls.items():
        with PeakMemory() as mem:
            start = time.perf_counter()
            call()
            seconds = time.perf_counter() - start
        print(
            f"{label:42s} {seconds:6.2f} s  peak {mem.peak / 2**30:5.2f} GiB "
            f"(+{(mem.peak - mem.start) / 2**30:4.2f} GiB over the fit)"
        )


if __name__ == "__main__":
    main()
