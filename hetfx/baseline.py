"""The no-pooling baseline: OLS with the treatment interacted with every group.

y = alpha + X beta + sum_e sum_g T_e 1{g(i) = g} b_e,g + e, with HC2 standard
errors (statsmodels). X holds the controls and the modifiers' constituent terms.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .design import Design, build_design


def ols_design(design: Design) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The OLS matrix and, per group row of the group table, its column."""
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
        if eq.pooled:
            idx = eq.grouping.index
            for g in range(eq.n_groups):
                group_cols.append(np.where(idx == g, t, 0.0))
                where.append((e, offset + len(group_cols) - 1))
        else:
            group_cols.append(t)
            where.append((e, offset + len(group_cols) - 1))
    return np.column_stack([base, *group_cols]), where


def ols_from_design(design: Design, prob: float = 0.9) -> pd.DataFrame:
    """One OLS estimate per group with HC2 standard errors, as a tidy table."""
    W, where = ols_design(design)
    cols = [c for _, c in where]
    est, sd = ols_hc2(design.y, W, cols)
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
    return out


def ols_hc2(
    y: np.ndarray, W: np.ndarray, cols: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """OLS estimates and HC2 standard errors of the columns ``cols``.

    A group of one treated unit has leverage 1: its coefficient fits that unit
    exactly and has no HC2 standard error (NaN). Those units and columns are left
    out of the covariance, which leaves every other estimate unchanged.
    """
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
) -> pd.DataFrame:
    """Fit the fully interacted OLS model the formula implies.

    Parameters
    ----------
    formula : str
        The hetfx formula.
    data : DataFrame-like
    prob : float
        Level of the normal-approximation intervals.

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
    design = build_design(
        formula,
        data,
        bins=bins,
        control=control,
        treatment_type=treatment_type,
        missing=missing,
        warn_groups=False,
    )
    return ols_from_design(design, prob)


__all__ = ["ols_from_design", "ols_interactions"]
