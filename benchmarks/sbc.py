"""Simulation-based calibration (Talts et al. 2018) of the gaussian and bernoulli
programs.

Each replication draws the parameters from the priors, simulates data from the
model, fits it, and records the rank of each true value among thinned posterior
draws: a, lambda, sigma_theta and three group effects. Calibrated inference gives
uniform ranks. The script prints a chi-square uniformity test per parameter and
draws the rank histograms.

Run: ``python benchmarks/sbc.py [--reps 200] [--family gaussian bernoulli]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from report import markdown_table
from scipy import stats

import hetfx
from hetfx.priors import Exponential, HalfNormal, Normal

FORMULA = "y ~ x1 + x2 | treat : z1 + z2 + z3"
# explicit priors: the defaults are scaled to the data, which SBC must not do
PRIORS = {
    "alpha": Normal(0, 1),
    "beta": Normal(0, 1),
    "a": Normal(0, 1),
    "lambda": Normal(0, 0.5),
    "sigma_theta": HalfNormal(0.5),
}
GAUSSIAN_PRIORS = {**PRIORS, "sigma": Exponential(1)}
RANKED = ["a", "lambda[z1]", "lambda[z2]", "lambda[z3]", "sigma_theta"]
RANKED += ["theta[0]", "theta[3]", "theta[7]"]
THIN_TO = 99  # ranks take values 0..99


def design(n: int, rng: np.random.Generator) -> pd.DataFrame:
    z = rng.integers(0, 2, (n, 3))
    return pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "treat": rng.integers(0, 2, n),
            "z1": z[:, 0],
            "z2": z[:, 1],
            "z3": z[:, 2],
        }
    )


def simulate(family: str, n: int, rng: np.random.Generator):
    """Parameters from the priors, then data from the model (as the Stan
    program reads it: alpha and a at the centred design)."""
    df = design(n, rng)
    treated = df["treat"] == 1
    Z = df[["z1", "z2", "z3"]].to_numpy(float)
    X = df[["x1", "x2"]].to_numpy(float)
    z_mean = Z[treated].mean(axis=0)
    truth = {
        "alpha_centred": rng.normal(0, 1),
        "beta": rng.normal(0, 1, 2),
        "a_centred": rng.normal(0, 1),
        "lambda": rng.normal(0, 0.5, 3),
        "sigma_theta": abs(rng.normal(0, 0.5)),
        "sigma": rng.exponential(1.0),
    }
    cells = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    theta = rng.normal(
        truth["a_centred"] + (cells - z_mean) @ truth["lambda"], truth["sigma_theta"]
    )
    group = (Z @ np.array([4, 2, 1])).astype(int)
    eta = (
        truth["alpha_centred"]
        + (X - X.mean(axis=0)) @ truth["beta"]
        + df["treat"].to_numpy() * theta[group]
    )
    if family == "gaussian":
        df["y"] = eta + truth["sigma"] * rng.normal(size=n)
    else:
        df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    values = {
        "a": truth["a_centred"] - truth["lambda"] @ z_mean,
        "sigma_theta": truth["sigma_theta"],
        **{f"lambda[z{j + 1}]": truth["lambda"][j] for j in range(3)},
        **{f"theta[{g}]": theta[g] for g in range(8)},
    }
    return df, values


def posterior_draws(fit) -> dict[str, np.ndarray]:
    a = fit.draws("a")[..., 0].ravel()
    lam = fit.draws("lambda").reshape(-1, 3)
    theta = fit.draws("theta").reshape(-1, 8)
    out = {"a": a, "sigma_theta": fit.draws("sigma_theta")[..., 0].ravel()}
    out.update({f"lambda[z{j + 1}]": lam[:, j] for j in range(3)})
    out.update({f"theta[{g}]": theta[:, g] for g in range(8)})
    return out


def run_sbc(
    family: str,
    reps: int,
    seed: int = 1,
    n: int = 400,
    backend: str = "auto",
    out: Path | None = None,
) -> pd.DataFrame:
    """Ranks of the true values, one row per replication (resumes from ``out``)."""
    priors = GAUSSIAN_PRIORS if family == "gaussian" else PRIORS
    model = hetfx.HetModel(
        FORMULA, family=family, priors=priors, main_effects=False, backend=backend
    )
    done = pd.read_csv(out) if out is not None and out.is_file() else pd.DataFrame()
    rows = done.to_dict("records")
    for rep in range(len(rows), reps):
        rng = np.random.default_rng([seed, rep])
        df, truth = simulate(family, n, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = model.fit(
                df,
                chains=4,
                iter_warmup=500,
                iter_sampling=250,
                seed=rep + 1,
                adapt_delta=0.95,
            )
        draws = posterior_draws(fit)
        row = {"rep": rep, "divergences": int(fit.diagnostics()["divergences"])}
        for name in RANKED:
            d = draws[name]
            thinned = d[np.linspace(0, d.size - 1, THIN_TO).astype(int)]
            row[name] = int((thinned < truth[name]).sum())
        rows.append(row)
        if out is not None:
            pd.DataFrame(rows).to_csv(out, index=False)
    return pd.DataFrame(rows)


def uniformity(ranks: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Chi-square test of uniform ranks per parameter (``bins`` equal bins)."""
    rows = []
    for name in RANKED:
        counts = np.histogram(ranks[name], bins=bins, range=(0, THIN_TO + 1))[0]
        chi2, p = stats.chisquare(counts)
        rows.append(
            {
                "parameter": name,
                "chi2": chi2,
                "p_value": p,
                "mean_rank": ranks[name].mean() / THIN_TO,
                "min_bin": int(counts.min()),
                "max_bin": int(counts.max()),
            }
        )
    return pd.DataFrame(rows)


def plot(ranks: pd.DataFrame, path: Path, title: str, bins: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(12, 5), sharey=True)
    expected = len(ranks) / bins
    band = stats.binom.interval(0.99, len(ranks), 1 / bins)
    for ax, name in zip(axes.ravel(), RANKED, strict=True):
        ax.hist(ranks[name], bins=bins, range=(0, THIN_TO + 1), color="#4477aa")
        ax.axhspan(*band, color="grey", alpha=0.25)
        ax.axhline(expected, color="black", lw=0.8)
        ax.set_title(name)
    fig.suptitle(f"{title}: SBC rank histograms, {len(ranks)} replications")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--family", nargs="+", default=["gaussian", "bernoulli"])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--out", default="docs/figures", help="tables and figures")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for family in args.family:
        start = time.perf_counter()
        ranks = run_sbc(
            family, args.reps, backend=args.backend, out=out / f"sbc_{family}.csv"
        )
        table = uniformity(ranks)
        plot(ranks, out / f"sbc_{family}.png", family)
        print(
            f"\n{family}: {len(ranks)} replications, "
            f"{time.perf_counter() - start:.0f} s, "
            f"replications with divergences: {(ranks['divergences'] > 0).sum()}"
        )
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        table.to_csv(out / f"sbc_{family}_uniformity.csv", index=False)
        caption = (
            f"{len(ranks)} replications; replications with divergences: "
            f"{int((ranks['divergences'] > 0).sum())}; written by benchmarks/sbc.py"
        )
        (out / f"sbc_{family}.md").write_text(markdown_table(table, caption))


if __name__ == "__main__":
    main()
