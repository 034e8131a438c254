"""The no-pooling baseline: OLS with a free treatment effect for every group.

``baseline="cells"`` (the default) is the paper's fully interacted regression
``y ~ treat * (z1 * ... * zk) + controls``: a free baseline for every modifier
cell as well as a free effect per group,

    y = X beta + sum_c 1{cell(i) = c} mu_c + sum_e sum_g T_e 1{g(i) = g} b_e,g + e.

``baseline="linear"`` keeps linear modifier main effects instead of the cell
baselines (X then holds the controls and the modifiers' constituent terms):

    y = alpha + X beta + sum_e sum_g T_e 1{g(i) = g} b_e,g + e.

Both have HC2 standard errors (statsmodels). The outcome is on the response
scale (a linear probability model for 0/1 outcomes, the share of successes for
binomial ones), so it is compared with response-scale effects of other families.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.build import Design, build_design
from hetfx.design.options import DesignOptions
from hetfx.errors import OptionError
from hetfx.families import Family

BASELINES = ("cells", "linear")


def check_baseline(baseline: str) -> str:
    if baseline not in BASELINES:
        raise OptionError(
            f"baseline must be 'cells' (the fully interacted model) or 'linear' "
            f"(linear modifier main effects), got {baseline!r}."
        )
    return baseline


def ols_outcome(design: Design, family: Family | None = None) -> np.ndarray:
    """y on the response scale: successes per trial for binomial outcomes."""
    if family is not None and family.trials:
        return design.y / design.extras[family.trials]
    return design.y


def _cell_columns(design: Design) -> np.ndarray:
    """Indicators of every modifier cell of every equation (one cell dropped per
    equation, the intercept standing for it), for all units, treated or not."""
    cols = []
    for eq in design.equations:
        cells = eq.grouping.cells
        if not eq.has_groups or cells is None:
            continue
        present = np.unique(cells)
        cols += [(cells == c).astype(float) for c in present[1:]]
    return np.column_stack(cols) if cols else np.zeros((design.n, 0))


def ols_design(
    design: Design, baseline: str = "cells"
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The OLS matrix and, per group row of the group table, its column."""
    modifier_names = {n for eq in design.equations for n in eq.z_names}
    if check_baseline(baseline) == "cells":
        controls = [j for j, n in enumerate(design.x_names) if n not in modifier_names]
        cols = [np.ones((design.n, 1)), design.X[:, controls], _cell_columns(design)]
    else:
        cols = [np.ones((design.n, 1)), design.X]
        names = set(design.x_names)
        for eq in design.equations:  # constituent terms, also with main_effects=False
            new = [j for j, n in enumerate(eq.z_names) if n not in names]
            if new:
                cols.append(eq.Z[:, new])
                names.update(eq.z_names[j] for j in new)
    base = np.column_stack(cols)
    group_cols, where = [], []
    offset = base.shape[1]
    for e, eq in enumerate(design.equations):
        t = eq.arm.values
        if eq.has_groups:
            idx = eq.grouping.index
            for g in range(eq.n_groups):
                group_cols.append(np.where(idx == g, t, 0.0))
                where.append((e, offset + len(group_cols) - 1))
        else:
            group_cols.append(t)
            where.append((e, offset + len(group_cols) - 1))
    return np.column_stack([base, *group_cols]), where


def ols_from_design(
    design: Design,
    prob: float = 0.9,
    baseline: str = "cells",
    family: Family | None = None,
) -> pd.DataFrame:
    """One OLS estimate per group with HC2 standard errors, as a tidy table."""
    from scipy import stats

    if family is not None and family.name == "categorical":
        raise OptionError("The OLS baseline is not available for categorical outcomes.")
    W, where = ols_design(design, baseline)
    cols = [c for _, c in where]
    est, sd = ols_hc2(ols_outcome(design, family), W, cols)
    table = design.group_table()
    z = stats.norm.ppf(0.5 + prob / 2)
    out = table.assign(
        mean=est,
        sd=sd,
        lower=est - z * sd,
        upper=est + z * sd,
        p_value=2 * stats.norm.sf(np.abs(est / sd)),
    )
    singular = ~np.isfinite(sd) | (sd == 0)
    if singular.any():
        warnings.warn(
            f"{int(singular.sum())} groups have no HC2 standard error (a group of "
            "one treated unit fits its own coefficient exactly).",
            RuntimeWarning,
            stacklevel=3,
        )
        out.loc[singular, ["sd", "lower", "upper", "p_value"]] = np.nan
    if baseline == "cells":
        unidentified = _cells_without_controls(design)
        if unidentified.any():
            warnings.warn(
                f"{int(unidentified.sum())} groups have no untreated units in their "
                "modifier cell: the fully interacted OLS cannot separate their "
                "effect from the cell's baseline, so it has no estimate (NaN). "
                "baseline='linear' estimates them.",
                RuntimeWarning,
                stacklevel=3,
            )
            stat_cols = ["mean", "sd", "lower", "upper", "p_value"]
            out.loc[unidentified, stat_cols] = np.nan
    return out


def _cells_without_controls(design: Design) -> np.ndarray:
    """Per group row: whether its modifier cell has no unit with every binary
    treatment at 0 (continuous treatments are identified within the cell)."""
    binary = [eq for eq in design.equations if eq.arm.kind != "continuous"]
    untreated = np.ones(design.n, dtype=bool)
    for eq in binary:
        untreated &= eq.arm.values == 0
    flags = []
    for eq in design.equations:
        n_rows = eq.n_groups if eq.has_groups else 1
        if (
            eq.arm.kind == "continuous"
            or not eq.has_groups
            or eq.grouping.cells is None
        ):
            flags += [False] * n_rows
            continue
        cells, index = eq.grouping.cells, eq.grouping.index
        control_cells = set(np.unique(cells[untreated]).tolist())
        for g in range(eq.n_groups):
            cell = cells[np.flatnonzero(index == g)[0]]
            flags.append(int(cell) not in control_cells)
    return np.asarray(flags, dtype=bool)


def ols_hc2(
    y: np.ndarray, W: np.ndarray, cols: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """OLS estimates and HC2 standard errors of the columns ``cols``.

    A group of one treated unit has leverage 1: its coefficient fits that unit
    exactly and has no HC2 standard error (NaN). Those units and columns are left
    out of the covariance, which leaves every other estimate unchanged.
    """
    import statsmodels.api as sm

    fitted = sm.OLS(y, W).fit()
    est = np.asarray(fitted.params)[cols]
    leverage = fitted.get_influence().hat_matrix_diag
    exact = leverage > 1 - 1e-8
    keep_cols = np.ones(W.shape[1], dtype=bool)
    if exact.any():
        keep_cols = np.abs(W[~exact]).sum(axis=0) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        robust = sm.OLS(y[~exact], W[~exact][:, keep_cols]).fit(cov_type="HC2")
    se_all = np.full(W.shape[1], np.nan)
    se_all[keep_cols] = np.asarray(robust.bse)
    se = se_all[cols]
    return est, np.where(np.isfinite(se), se, np.nan)


def ols_interactions(
    formula: str,
    data: Any,
    prob: float = 0.9,
    *,
    bins: dict[str, Any] | None = None,
    control: Any = None,
    treatment_type: Any = None,
    missing: str = "drop",
    baseline: str = "cells",
) -> pd.DataFrame:
    """Fit the fully interacted OLS model the formula implies.

    Parameters
    ----------
    formula : str
        The hetfx formula.
    data : DataFrame-like
    prob : float
        Level of the normal-approximation intervals.
    baseline : {"cells", "linear"}
        ``"cells"``: the paper's ``y ~ treat * (z1 * ... * zk) + controls``, a
        free baseline for every modifier cell; ``"linear"``: linear modifier
        main effects instead (the modifiers' design columns as controls).

    Returns
    -------
    pandas.DataFrame
        The :func:`hetfx.groups` columns, then ``mean`` (the OLS estimate), ``sd``
        (HC2 standard error), ``lower``, ``upper`` and ``p_value``.

    Examples
    --------
    >>> import hetfx
    >>> sim = hetfx.datasets.simulate(n=800, n_modifiers=2, seed=1)
    >>> hetfx.ols_interactions(sim.formula, sim.data).shape[0]
    4
    """
    options = DesignOptions.of(
        bins=bins, control=control, treatment_type=treatment_type, missing=missing
    )
    design = build_design(formula, data, options, warn_groups=False)
    return ols_from_design(design, prob, check_baseline(baseline))


__all__ = ["ols_from_design", "ols_interactions"]
