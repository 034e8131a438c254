"""The paper's three simulation studies, with hetfx and two OLS baselines.

OLS (cells) is the paper's fully interacted regression y ~ treat * (z1 * ... * zk)
+ controls (hetfx's default baseline); OLS (linear) has linear modifier main
effects instead of a baseline per modifier cell.

(a) balanced groups: n = 2,000; 3 to 7 binary modifiers (8 to 128 groups); true
    group effects from N(0.2, 0.3); three controls; noise sd 1;
(b) imbalanced groups: 64 groups, modifier probabilities from 0.5 to 0.2;
(c) heavy-tailed true effects: 0.2 + 0.3 t(5) and t(3), with a half-normal
    against a half-Student-t prior on sigma_theta.

Each cell prints RMSE, 90% coverage and bias by group size over the
replications, and writes CSV tables and PNG figures. The fits run through
``hetfx.fit_many``, so a rerun resumes. A causal forest (econml's
CausalForestDML: modifiers as X, controls as W) joins where econml is installed.

Run: ``python benchmarks/paper_simulations.py [--reps 10] [--study a b c]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from report import markdown_table

import hetfx
from hetfx.priors import HalfNormal, HalfStudentT

N = 2000
SAMPLER = {"chains": 4, "iter_warmup": 500, "iter_sampling": 500}
SIZE_BINS = [0, 5, 10, 20, 50, np.inf]
SIZE_LABELS = ["1-4", "5-9", "10-19", "20-49", "50+"]
# the paper's OLS (a free baseline and effect per modifier cell), and the one with
# linear modifier main effects that earlier tables used
OLS_BASELINES = {"cells": "OLS (cells)", "linear": "OLS (linear)"}


def simulate(
    n_mod: int, probs: np.ndarray, effects: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """One dataset: binary modifiers, 3 controls, T ~ Bernoulli(0.5)."""
    Z = (rng.random((N, n_mod)) < probs).astype(int)
    X = rng.normal(size=(N, 3))
    T = rng.integers(0, 2, N)
    group = Z @ (2 ** np.arange(n_mod)[::-1])
    y = X @ np.array([0.5, -0.3, 0.2]) + T * effects[group] + rng.normal(size=N)
    df = pd.DataFrame(X, columns=["x1", "x2", "x3"])
    for j in range(n_mod):
        df[f"z{j + 1}"] = Z[:, j]
    df["treat"], df["y"] = T, y
    return df


def formula(n_mod: int) -> str:
    mods = " + ".join(f"z{j + 1}" for j in range(n_mod))
    return f"y ~ x1 + x2 + x3 | treat : {mods}"


def true_effects(table: pd.DataFrame, n_mod: int, effects: np.ndarray) -> np.ndarray:
    """The true effect of each row of a group table."""
    codes = table[[f"z{j + 1}" for j in range(n_mod)]].to_numpy(int)
    return effects[codes @ (2 ** np.arange(n_mod)[::-1])]


def cells(studies: list[str]) -> list[dict]:
    """Every simulation cell: study, label, modifiers, probabilities, effects, prior."""
    out = []
    if "a" in studies:
        for k in range(3, 8):
            out.append({"study": "a", "cell": f"{2**k} groups", "n_mod": k, "p": 0.5})
    if "b" in studies:
        for p in (0.5, 0.4, 0.3, 0.2):
            out.append({"study": "b", "cell": f"p = {p:.1f}", "n_mod": 6, "p": p})
    if "c" in studies:
        for df in (5, 3):
            for prior in ("half_normal", "half_student_t"):
                out.append(
                    {
                        "study": "c",
                        "cell": f"t({df}), {prior}",
                        "n_mod": 6,
                        "p": 0.5,
                        "t_df": df,
                        "prior": prior,
                    }
                )
    return out


def replicate(cell: dict, rep: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng([zlib.crc32(cell["cell"].encode()), rep])
    G = 2 ** cell["n_mod"]
    if "t_df" in cell:
        effects = 0.2 + 0.3 * rng.standard_t(cell["t_df"], G)
    else:
        effects = rng.normal(0.2, 0.3, G)
    probs = np.full(cell["n_mod"], cell["p"])
    return simulate(cell["n_mod"], probs, effects, rng), effects


def priors_for(cell: dict) -> dict | None:
    if cell.get("prior") == "half_student_t":
        return {"sigma_theta": HalfStudentT(3, 0.5)}
    if cell.get("prior") == "half_normal":
        return {"sigma_theta": HalfNormal(0.5)}
    return None


def causal_forest(df: pd.DataFrame, table: pd.DataFrame, n_mod: int):
    """CATE at each group's modifier values, with its 90% interval."""
    from econml.dml import CausalForestDML

    mods = [f"z{j + 1}" for j in range(n_mod)]
    est = CausalForestDML(discrete_treatment=True, random_state=0)
    est.fit(df["y"], df["treat"], X=df[mods], W=df[["x1", "x2", "x3"]])
    X = table[mods].to_numpy()
    lower, upper = est.effect_interval(X, alpha=0.1)
    return est.effect(X), lower, upper


def run(studies: list[str], reps: int, out: Path, backend: str) -> pd.DataFrame:
    """Fit every replication (resuming) and return one row per group and method."""
    data, jobs = {}, []
    for cell in cells(studies):
        for rep in range(reps):
            name = f"{cell['study']}-{cell['cell']}-{rep}".replace(" ", "")
            name = name.replace(",", "_").replace("=", "").replace("(", "")
            name = name.replace(")", "")
            df, effects = replicate(cell, rep)
            data[name] = (cell, df, effects)
            model = {"formula": formula(cell["n_mod"]), "backend": backend}
            if priors_for(cell):
                model["priors"] = priors_for(cell)
            jobs.append(
                {"name": name, "data": df, "model": model, "seed": rep, **SAMPLER}
            )
    manifest = hetfx.fit_many(jobs, out / "fits", progress=True)
    failed = manifest[manifest["status"] != "done"]
    if len(failed):
        print(f"{len(failed)} fits failed: {failed['error'].tolist()[:3]}")
    try:
        import econml  # noqa: F401

        has_forest = True
    except ImportError:
        has_forest = False
        print("econml is not installed: no causal forest column")
    rows = []
    for name, (cell, df, effects) in data.items():
        if name in set(failed["name"]):
            continue
        hier = pd.read_csv(out / "fits" / name / "effects.csv")
        truth = true_effects(hier, cell["n_mod"], effects)
        methods = {"hierarchical": (hier["mean"], hier["lower"], hier["upper"])}
        for baseline, label in OLS_BASELINES.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ols = hetfx.ols_interactions(
                    formula(cell["n_mod"]), df, baseline=baseline
                )
            methods[label] = (ols["mean"], ols["lower"], ols["upper"])
        if has_forest:
            methods["causal forest"] = causal_forest(df, hier, cell["n_mod"])
        for method, (est, lower, upper) in methods.items():
            rows.append(
                pd.DataFrame(
                    {
                        "study": cell["study"],
                        "cell": cell["cell"],
                        "rep": name.rsplit("-", 1)[1],
                        "method": method,
                        "n_treated": hier["n_treated"],
                        "truth": truth,
                        "estimate": np.asarray(est, float),
                        "lower": np.asarray(lower, float),
                        "upper": np.asarray(upper, float),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def summarise(groups: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RMSE, coverage and bias per cell and method; and by group size."""
    g = groups.dropna(subset=["estimate"]).copy()
    g["error"] = g["estimate"] - g["truth"]
    inside = (g["lower"] <= g["truth"]) & (g["truth"] <= g["upper"])
    # OLS has no interval for a group of one treated unit: left out of coverage
    g["covered"] = inside.astype(float).where(g["lower"].notna())
    g["size"] = pd.cut(g["n_treated"], SIZE_BINS, labels=SIZE_LABELS, right=False)

    def stats(frame):
        return pd.Series(
            {
                "rmse": float(np.sqrt((frame["error"] ** 2).mean())),
                "coverage_90": float(frame["covered"].mean()),
                "bias": float(frame["error"].mean()),
                "groups": len(frame),
            }
        )

    keys = ["study", "cell", "method"]
    by_cell = g.groupby(keys, sort=False).apply(stats, include_groups=False)
    by_size = g.groupby([*keys, "size"], sort=False, observed=True).apply(
        stats, include_groups=False
    )
    by_cell, by_size = by_cell.reset_index(), by_size.reset_index()
    for table in (by_cell, by_size):
        table["groups"] = table["groups"].astype(int)
    return by_cell, by_size


def figures(by_cell: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for study, frame in by_cell.groupby("study"):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for method, part in frame.groupby("method", sort=False):
            axes[0].plot(part["cell"], part["rmse"], marker="o", label=method)
            axes[1].plot(part["cell"], part["coverage_90"], marker="o", label=method)
        axes[0].set_ylabel("RMSE of the group effects")
        axes[1].set_ylabel("coverage of the 90% intervals")
        axes[1].axhline(0.9, color="grey", lw=0.8, ls="--")
        for ax in axes:
            ax.tick_params(axis="x", rotation=30)
        axes[0].legend()
        fig.suptitle(f"Simulation study ({study})")
        fig.tight_layout()
        fig.savefig(out / f"sim_{study}.png", dpi=110)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--study", nargs="+", default=["a", "b", "c"])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--work", default="benchmarks/.paper-simulations")
    args = parser.parse_args()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    groups = run(args.study, args.reps, work, args.backend)
    by_cell, by_size = summarise(groups)
    print(f"{args.reps} replications per cell, {time.perf_counter() - start:.0f} s")
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    print(by_cell.to_string(**fmt))
    print("\nBy group size (treated units)")
    print(by_size.to_string(**fmt))
    by_cell.to_csv(out / "sim_summary.csv", index=False)
    by_size.to_csv(out / "sim_by_size.csv", index=False)
    (out / "sim_summary.md").write_text(
        markdown_table(
            by_cell,
            f"{args.reps} replications per cell; written by "
            "benchmarks/paper_simulations.py",
        )
    )
    figures(by_cell, out)


if __name__ == "__main__":
    main()
