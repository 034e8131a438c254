"""Diagnostics that tell the truth: per-chain tree depth and step size, stuck
chains named with what helps, and a loud warning when R-hat is high.

More iterations help a slowly mixing chain but not a stuck one (a chain that
sat at sigma_theta near 0, or hit the maximum tree depth on most draws); the
warnings say which is which.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

RHAT_WARN = 1.01
RHAT_LOUD = 1.05
ESS_WARN = 400
TREEDEPTH_SHARE = 0.5  # a chain at the maximum depth on this share of draws
STEP_RATIO = 0.1  # a step size under this share of the other chains'
SIGMA_RATIO = 0.1  # a mean sigma_theta under this share of the other chains'
STUCK_ADVICE = (
    "More iterations do not help a stuck chain; try parameterization='centred' "
    "when the groups are large (or 'noncentred' when they are small), a tighter "
    "prior on sigma_theta (priors={'sigma_theta': hetfx.priors.HalfNormal(0.5)}), "
    "or more adaptation (iter_warmup=2000, adapt_delta=0.95)."
)


class ConvergenceWarning(UserWarning):
    """The sampler reported divergences, high R-hat or low ESS."""


def chain_table(fit: HetFit) -> pd.DataFrame:
    """One row per chain: divergences, the share of draws at the maximum tree
    depth, the mean tree depth, the step size, the mean of each sigma_theta,
    and whether (and why) the chain looks stuck."""
    stats = fit.idata.sample_stats
    post = fit.idata.posterior
    max_depth = fit.options.get("max_treedepth", 10)
    chains = [int(c) for c in post["chain"].values]
    depth = stats["tree_depth"].values if "tree_depth" in stats else None
    step = stats["step_size"].values if "step_size" in stats else None
    sigma = post["sigma_theta"].values if "sigma_theta" in post else None
    labels = list(fit.coords.get("treatment", []))
    rows = []
    for i, chain in enumerate(chains):
        row = {
            "chain": chain,
            "divergences": int(stats["diverging"].values[i].sum()),
            "treedepth_share": float((depth[i] >= max_depth).mean())
            if depth is not None
            else np.nan,
            "mean_treedepth": float(depth[i].mean()) if depth is not None else np.nan,
            "step_size": float(np.median(step[i])) if step is not None else np.nan,
        }
        if sigma is not None and sigma.ndim == 3:
            for e, label in enumerate(labels):
                if sigma.shape[2] > e:
                    row[f"sigma_theta[{label}]"] = float(sigma[i, :, e].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    table["stuck"] = ""
    if len(table) < 2:
        return table
    for i in range(len(table)):
        others = table.drop(index=i)
        reasons = []
        share = table.loc[i, "treedepth_share"]
        if share >= TREEDEPTH_SHARE:
            reasons.append(
                f"it hit the maximum tree depth ({max_depth}) on {share:.0%} of its "
                "draws"
            )
        median_step = float(others["step_size"].median())
        if table.loc[i, "step_size"] < STEP_RATIO * median_step:
            reasons.append(
                f"its step size {table.loc[i, 'step_size']:.2g} is under a tenth of "
                f"the other chains' ({median_step:.2g})"
            )
        for col in [c for c in table.columns if c.startswith("sigma_theta[")]:
            median_sigma = float(others[col].median())
            if table.loc[i, col] < SIGMA_RATIO * median_sigma:
                reasons.append(
                    f"{col} sat near 0 ({table.loc[i, col]:.3g} against "
                    f"{median_sigma:.3g} in the other chains)"
                )
        table.loc[i, "stuck"] = "; ".join(reasons)
    return table


def worst_rhat(fit: HetFit, names: list[str], n: int = 5) -> pd.Series:
    """The ``n`` largest R-hats, labelled like ``theta[treat | z=1]``."""
    import arviz as az

    post = fit.idata.posterior[[v for v in names if v in fit.idata.posterior]]
    keep = [v for v in post.data_vars if post[v].size > 0]
    rhat = az.rhat(post[keep]) if keep else None
    values: dict[str, float] = {}
    for name in keep:
        da = rhat[name]
        if da.ndim == 0:
            values[name] = float(da)
            continue
        flat = da.stack(cell=da.dims)
        for labels, value in zip(flat["cell"].values, flat.values, strict=True):
            key = ", ".join(map(str, np.atleast_1d(labels)))
            values[f"{name}[{key}]"] = float(value)
    series = pd.Series(values, dtype=float).dropna()
    return series.sort_values(ascending=False).head(n)


def messages(fit: HetFit) -> list[str]:
    """The convergence warnings of a fit, each with what helps."""
    diag = fit.diagnostics()
    out = []
    if diag["divergences"] > 0:
        out.append(
            f"{diag['divergences']} divergent transitions after warmup. Raise "
            "adapt_delta (e.g. adapt_delta=0.95), or use fewer or larger groups."
        )
    for row in chain_table(fit).to_dict("records"):
        if row["stuck"]:
            out.append(
                f"Chain {row['chain']} looks stuck: {row['stuck']}. {STUCK_ADVICE}"
            )
    if diag["max_rhat"] > RHAT_LOUD:
        worst = worst_rhat(fit, fit.info.get("summary_vars", []))
        listed = ", ".join(f"{k} {v:.3f}" for k, v in worst.items())
        out.append(
            f"R-HAT IS HIGH: up to {diag['max_rhat']:.3f} (> {RHAT_LOUD}). The chains "
            f"disagree and these results are not reliable. Worst: {listed}."
        )
    elif diag["max_rhat"] > RHAT_WARN:
        out.append(
            f"Max R-hat is {diag['max_rhat']:.3f} (> {RHAT_WARN}): the chains "
            "disagree. Run more iterations (iter_warmup, iter_sampling)."
        )
    if diag["min_ess_bulk"] < ESS_WARN:
        out.append(
            f"Min bulk ESS is {diag['min_ess_bulk']:.0f} (< {ESS_WARN}): "
            "intervals are imprecise. Run more iterations or chains."
        )
    return out


def diagnostics(fit: HetFit) -> pd.Series:
    """Divergences, max R-hat, min ESS (bulk and tail), treedepth hits."""
    import arviz as az

    stats = fit.idata.sample_stats
    names = [v for v in fit.info.get("summary_vars", []) if v in fit.idata.posterior]
    posterior = fit.idata.posterior[names]
    sizes = [posterior[v].size for v in names]
    keep = [v for v, s in zip(names, sizes, strict=True) if s > 0]
    with warnings.catch_warnings():  # constants (a fixed sigma_theta) give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(posterior[keep]) if keep else None
        ess_b = az.ess(posterior[keep], method="bulk") if keep else None
        ess_t = az.ess(posterior[keep], method="tail") if keep else None

    def extreme(ds, fn) -> float:
        if ds is None:
            return float("nan")
        values = np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars])
        values = values[np.isfinite(values)]
        return float(fn(values)) if values.size else float("nan")

    depth = stats["tree_depth"].values if "tree_depth" in stats else np.zeros(1)
    return pd.Series(
        {
            "divergences": int(stats["diverging"].values.sum()),
            "max_rhat": extreme(rhat, np.max),
            "min_ess_bulk": extreme(ess_b, np.min),
            "min_ess_tail": extreme(ess_t, np.min),
            "treedepth_hits": int(
                (depth >= fit.options.get("max_treedepth", 10)).sum()
            ),
            "chains": int(posterior.sizes.get("chain", 0)),
            "draws": int(posterior.sizes.get("draw", 0)),
        },
        name="diagnostics",
        dtype=object,
    )
