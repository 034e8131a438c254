"""Figures of a fit (matplotlib). Each takes ``ax=`` and returns the Axes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from hetfx.results.fit import HetFit

HIER = "#1f5fa8"
OLS = "#c2410c"


def _axes(ax: Axes | None, rows: int, label_chars: int = 20) -> Axes:
    """The given Axes, or a new figure sized for ``rows`` labelled rows."""
    if ax is not None:
        return ax
    height = min(2.2 + 0.3 * rows, 30.0)
    width = 5.5 + 0.075 * label_chars
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _legend_below(ax: Axes) -> None:
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.09),
        ncol=2,
        fontsize="small",
        frameon=False,
    )


def plot_effects(
    fit: HetFit,
    ax: Axes | None = None,
    ols: bool = False,
    prob: float = 0.9,
    sort: bool = True,
    scale: str | None = None,
) -> Axes:
    """Forest plot of the group effects, sorted, with an optional OLS overlay.

    With ``ols=True`` both are on the scale of :meth:`HetFit.compare_ols`; the
    axis label names the scale.
    """
    if ols:
        scale = fit.comparison_scale(scale)
        eff = fit.compare_ols(prob, scale).reset_index(drop=True)
    else:
        scale = scale or "link"
        eff = fit.group_effects(prob, scale).reset_index(drop=True)
    eff["label"] = eff["group"]
    if eff["treatment"].nunique() > 1:
        eff["label"] = eff["treatment"] + " | " + eff["group"]
    if sort:
        eff = eff.sort_values("mean").reset_index(drop=True)
    labels = [
        f"{lab}  (n={n})" for lab, n in zip(eff["label"], eff["n_treated"], strict=True)
    ]
    ax = _axes(ax, len(eff), max(map(len, labels)))
    y = np.arange(len(eff))
    shift = 0.18 if ols else 0.0
    ax.hlines(y + shift, eff["lower"], eff["upper"], color=HIER, lw=2)
    ax.plot(eff["mean"], y + shift, "o", color=HIER, label=f"hierarchical ({prob:.0%})")
    if ols:
        ax.hlines(y - shift, eff["ols_lower"], eff["ols_upper"], color=OLS, lw=1)
        ax.plot(
            eff["ols"],
            y - shift,
            "s",
            mfc="white",
            color=OLS,
            label=f"OLS interactions ({prob:.0%})",
        )
    ate = fit.ate(prob, scale=scale)
    if len(ate) == ate["treatment"].nunique():  # not per ordinal category
        for value in ate["mean"]:
            ax.axvline(value, color="grey", ls="--", lw=1)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"treatment effect, {fit.scale_name(scale)} (dashed: ATE)")
    ax.set_title(f"Group effects ({scale} scale)")
    _legend_below(ax)
    return ax


def plot_modifiers(fit: HetFit, ax: Axes | None = None, prob: float = 0.9) -> Axes:
    """lambda, the intercept a and sigma_theta, with their intervals."""
    mods = fit.modifiers(prob).reset_index(drop=True)
    labels = mods["parameter"]
    if mods["treatment"].nunique() > 1:
        labels = mods["treatment"] + ": " + mods["parameter"]
    ax = _axes(ax, len(mods), int(labels.str.len().max()))
    y = np.arange(len(mods))[::-1]
    colors = ["grey" if p == "sigma_theta" else HIER for p in mods["parameter"]]
    ax.hlines(y, mods["lower"], mods["upper"], color=colors, lw=2)
    ax.scatter(mods["mean"], y, color=colors, zorder=3)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"posterior mean and {prob:.0%} interval, {fit.scale_name()}")
    ax.set_title("Modifiers (lambda) and pooling scale (sigma_theta)")
    return ax


def plot_shrinkage(fit: HetFit, ax: Axes | None = None, prob: float = 0.9) -> Axes:
    """OLS estimates against hierarchical ones, on the scale of
    :meth:`HetFit.compare_ols`; point size by group size."""
    comp = fit.compare_ols(prob)
    scale = fit.comparison_scale()
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7.0, 5.5), layout="constrained")
    sizes = 15 + 185 * comp["n_treated"] / comp["n_treated"].max()
    ax.scatter(
        comp["ols"], comp["mean"], s=sizes, color=HIER, alpha=0.7, edgecolor="white"
    )
    ax.scatter(
        comp["ols"],
        comp["prediction"],
        s=12,
        marker="x",
        color=OLS,
        label="regression prediction (complete pooling)",
    )
    finite = comp["ols"][np.isfinite(comp["ols"])]
    lims = [
        min(finite.min(), comp["mean"].min()),
        max(finite.max(), comp["mean"].max()),
    ]
    pad = 0.05 * (lims[1] - lims[0] or 1)
    lims = [lims[0] - pad, lims[1] + pad]
    ax.plot(lims, lims, color="grey", lw=1, label="no shrinkage (y = x)")
    ax.set_xlim(lims)
    unit = fit.scale_name(scale)
    ax.set_xlabel(f"OLS interaction estimate (no pooling), {unit}")
    ax.set_ylabel(f"hierarchical estimate (partial pooling), {unit}")
    ax.set_title("Shrinkage of group effects (point size: treated units)")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_ppc(
    fit: HetFit, ax: Axes | None = None, ndraws: int = 200, prob: float = 0.9
) -> Axes:
    """Observed treated mean of every group against its replicated interval."""
    table = fit.ppc(ndraws=ndraws, prob=prob)
    table = table[table["statistic"].str.contains(" \\| ")].reset_index(drop=True)
    names = table["statistic"].str.split(" \\| ").str[1]
    ax = _axes(ax, len(table), int(names.str.len().max()))
    y = np.arange(len(table))[::-1]
    ax.hlines(
        y,
        table["lower"],
        table["upper"],
        color="grey",
        lw=3,
        alpha=0.6,
        label=f"replicated ({prob:.0%})",
    )
    ax.plot(table["observed"], y, "o", color=OLS, label="observed")
    ax.set_yticks(y, names)
    ax.set_xlabel("mean outcome of the group's treated units")
    ax.set_title("Posterior predictive check by group")
    _legend_below(ax)
    return ax


def plot_estimates(
    fit: HetFit,
    table: pd.DataFrame,
    what: str,
    scale: str,
    prob: float,
    ax: Axes | None = None,
) -> Axes:
    """Rows of a comparisons or slopes table with their intervals, one per line,
    labelled by their ``by`` values (and the treatment when there are several)."""
    from hetfx.results.summary import STAT_COLUMNS

    stats = {"treatment", "term", "n", *STAT_COLUMNS}
    keys = [c for c in table.columns if c not in stats]
    labels = [
        ", ".join(f"{k}={_short(row[k])}" for k in keys) or "all rows"
        for row in table.to_dict("records")
    ]
    if table["treatment"].nunique() > 1:
        labels = [
            f"{t} | {lab}" for t, lab in zip(table["treatment"], labels, strict=True)
        ]
    ax = _axes(ax, len(table), max(map(len, labels)))
    y = np.arange(len(table))[::-1]
    ax.hlines(y, table["lower"], table["upper"], color=HIER, lw=2)
    ax.plot(table["mean"], y, "o", color=HIER, label=f"posterior mean ({prob:.0%})")
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"{what}, {fit.scale_name(scale)}")
    ax.set_title(f"{what[0].upper()}{what[1:]} ({scale} scale, {prob:.0%} intervals)")
    return ax


def _short(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
