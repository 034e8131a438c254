"""Batch benchmarks: one-by-one fits against fit_many, executors, and a gaussian
fit of 20 million rows read from Parquet through Dask.

Run: ``python benchmarks/bench_batch.py [--datasets 40] [--rows 20000000]``.
Prints measured figures and the machine they came from; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

import hetfx

FORMULA = "y ~ x1 + x2 | treat : z1 + z2 + z3"
SAMPLER = {"chains": 4, "iter_warmup": 500, "iter_sampling": 500}

ONE_FIT = textwrap.dedent(
    """
    import json, sys, warnings
    import pandas as pd
    import hetfx
    warnings.simplefilter("ignore")
    fit = hetfx.fit(sys.argv[1], pd.read_csv(sys.argv[2]), backend=sys.argv[3],
                    seed=int(sys.argv[4]), **json.loads(sys.argv[5]))
    print(json.dumps({"compiled": bool(fit.compiled)}))
    """
)


def machine() -> str:
    import psutil

    return (
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    )


def datasets(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        sim = hetfx.datasets.simulate(n=1000, n_modifiers=3, n_controls=2, seed=seed)
        path = folder / f"sim{seed:03d}.csv"
        sim.data.to_csv(path, index=False)
        paths.append(path)
    return paths


def jobs_for(paths: list[Path], backend: str) -> list[dict]:
    return [
        {
            "name": p.stem,
            "data": str(p),
            "formula": FORMULA,
            "backend": backend,
            "seed": i,
            **SAMPLER,
        }
        for i, p in enumerate(paths)
    ]


def one_by_one(paths: list[Path], backend: str) -> tuple[float, int]:
    start, compiles = time.perf_counter(), 0
    script = Path(tempfile.mkdtemp()) / "one_fit.py"
    script.write_text(ONE_FIT)
    for i, path in enumerate(paths):
        done = subprocess.run(
            [
                sys.executable,
                script,
                FORMULA,
                path,
                backend,
                str(i),
                json.dumps(SAMPLER),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        compiles += json.loads(done.stdout.strip().splitlines()[-1])["compiled"]
    return time.perf_counter() - start, compiles


def batch(paths: list[Path], out: Path, backend: str, executor=None, workers=None):
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    manifest = hetfx.fit_many(
        jobs_for(paths, backend), out, executor, workers=workers, progress=False
    )
    seconds = time.perf_counter() - start
    programs = json.loads((out / "manifest.json").read_text())["programs"]
    compiles = sum(p["compiled"] for p in programs) + int(manifest["compiled"].sum())
    assert (manifest["status"] == "done").all(), manifest["error"].dropna().tolist()
    return seconds, compiles


def dask_batch(paths: list[Path], out: Path, backend: str) -> float:
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.worker.daemon": False}):
        with (
            LocalCluster(n_workers=2, threads_per_worker=1) as cluster,
            Client(cluster) as client,
        ):
            return batch(paths, out, backend, executor=client)[0]


BIG_FIT = textwrap.dedent(
    """
    import json, resource, sys, time, warnings
    import hetfx
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    model = hetfx.HetModel(sys.argv[1], backend=sys.argv[3], parameterization="auto")
    fit = model.fit(sys.argv[2], chains=4, iter_warmup=500, iter_sampling=500, seed=1)
    total = time.perf_counter() - start
    passes = fit.timing["design"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"passes": passes, "total": total, "peak_gib": peak,
                      "sampling": fit.timing["sampling"], "n": fit.info["n"],
                      "ate": float(fit.ate()["mean"][0])}))
    """
)


def write_big_parquet(folder: Path, rows: int, per_file: int = 1_000_000) -> float:
    """Simulated rows written file by file (never all in memory)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    effects = rng.normal(0.2, 0.3, 8)
    for i, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        z = rng.integers(0, 2, (n, 3))
        frame = pd.DataFrame(
            {
                "x1": rng.normal(size=n),
                "x2": rng.normal(size=n),
                "treat": rng.integers(0, 2, n),
                "z1": z[:, 0],
                "z2": z[:, 1],
                "z3": z[:, 2],
            }
        )
        group = z[:, 0] * 4 + z[:, 1] * 2 + z[:, 2]
        frame["y"] = (
            0.5 * frame.x1 - 0.3 * frame.x2 + frame.treat * effects[group]
        ) + rng.normal(size=n)
        frame.to_parquet(folder / f"part{i:03d}.parquet")
    return float(effects.mean())  # balanced groups: the ATE is the mean effect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=40)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--skip", nargs="*", default=[], help="one, executors, big")
    parser.add_argument("--work", default=None, help="scratch folder")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="hetfx-bench-batch-"))
    backend = hetfx.HetModel(FORMULA, backend=args.backend).backend.name
    print(f"machine: {machine()}; backend {backend}")
    hetfx.HetModel(FORMULA, backend=backend).compile()  # warm cache for all rows
    paths = datasets(work / "data", args.datasets)

    serial, compiles = batch(paths, work / "serial", backend)
    print(
        f"fit_many serial, {len(paths)} datasets: {serial:.1f} s, "
        f"{compiles} compiles ({serial / len(paths):.2f} s per fit)"
    )
    if "one" not in args.skip:
        single, single_compiles = one_by_one(paths, backend)
        print(
            f"{len(paths)} hetfx.fit calls in fresh processes: {single:.1f} s, "
            f"{single_compiles} compiles; fit_many is {single / serial:.1f}x faster"
        )
    if "executors" not in args.skip:
        procs, _ = batch(paths, work / "procs", backend, "processes", workers=2)
        print(f"fit_many processes (2 workers): {procs:.1f} s, {serial / procs:.2f}x")
        viadask = dask_batch(paths, work / "dask", backend)
        print(
            f"fit_many Dask LocalCluster (2 workers): {viadask:.1f} s, "
            f"{serial / viadask:.2f}x"
        )
    if "big" not in args.skip:
        start = time.perf_counter()
        true_ate = write_big_parquet(work / "big", args.rows)
        seconds = time.perf_counter() - start
        print(f"wrote {args.rows:,} rows of Parquet in {seconds:.0f} s")
        script = work / "big_fit.py"
        script.write_text(BIG_FIT)
        done = subprocess.run(
            [sys.executable, script, FORMULA, work / "big", backend],
            capture_output=True,
            text=True,
            check=True,
        )
        big = json.loads(done.stdout.strip().splitlines()[-1])
        child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(
            f"gaussian fit of {big['n']:,} Parquet rows through Dask: "
            f"{big['total']:.1f} s wall ({big['passes']:.1f} s for the two passes "
            f"over the data, {big['sampling']:.1f} s sampling); peak memory "
            f"{max(big['peak_gib'], child_peak):.2f} GiB; ATE {big['ate']:.3f} "
            f"(true {true_ate:.3f})"
        )
    print(f"scratch folder: {work}")


if __name__ == "__main__":
    main()
