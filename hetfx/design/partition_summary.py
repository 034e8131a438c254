"""From the summed raw statistics of every partition to a design and its summary.

The raw columns are V = [1, X - x0, T_e, T_e (Z_e - z0_e)] and T_e 1{g}; the
centred, scaled W of :mod:`hetfx.program.standata` is a linear map of them,
W = [V, T 1{g}] M, so W'W = M' R M with R the raw Gram matrix, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.build import Design, Equation
from hetfx.design.checks import check_identified, warn_saturated
from hetfx.design.grouping import Coder, Grouping, group_table, warn_about_groups
from hetfx.design.layout import Layout
from hetfx.design.partition_pass import Plan
from hetfx.errors import DataError
from hetfx.program.standata import DesignSummary, Scaling


@dataclass(frozen=True)
class RawColumns:
    """Where each equation's T_e and T_e (Z_e - z0_e) sit among the raw columns V."""

    names: list[str]
    treatment: list[int]
    modifiers: list[np.ndarray]

    @property
    def size(self) -> int:
        return 1 + len(self.names)


@dataclass(frozen=True)
class EquationStatistics:
    """One equation's groups and moments over its treated units."""

    equation: Equation
    groups: np.ndarray  # modifier combinations with treated units
    counts: np.ndarray
    means: np.ndarray  # zbar_g
    z_mean: np.ndarray
    z_sd: np.ndarray
    t_sd: float


def raw_columns(reference: Design) -> RawColumns:
    """The raw columns' names and each equation's places among them."""
    names = list(reference.x_names)
    treatment, modifiers = [], []
    pos = 1 + len(names)
    for eq in reference.equations:
        L = len(eq.z_names)
        treatment.append(pos)
        modifiers.append(np.arange(pos + 1, pos + 1 + L))
        names += [f"treatment {eq.label!r}", *[f"{eq.label}:{z}" for z in eq.z_names]]
        pos += 1 + L
    return RawColumns(names, treatment, modifiers)


def equation_statistics(
    e: int, plan: Plan, total: dict[str, Any], raw: RawColumns
) -> EquationStatistics:
    """Equation ``e`` without rows: its group table, counts, zbar_g and moments."""
    eq = plan.reference.equations[e]
    VtV, N, L = total["VtV"], int(total["n"]), len(eq.z_names)
    t = raw.treatment[e]
    t_sd = 1.0
    if eq.arm.kind == "continuous":
        m = VtV[0, t] / N
        t_sd = float(np.sqrt(max(VtV[t, t] / N - m**2, 0.0)))
    arm = replace(eq.arm, values=np.zeros(0), treated=np.zeros(0, dtype=bool))
    if not eq.has_groups:
        table = eq.grouping.table.copy()
        n_treated = int(round(VtV[0, t])) if eq.arm.kind != "continuous" else N
        table.loc[0, ["n_treated", "n"]] = [n_treated, N]
        equation = Equation(
            arm, np.zeros((0, L)), eq.z_names, eq.modifiers, Grouping(_none(), table)
        )
        empty = np.zeros(0)
        return EquationStatistics(
            equation, _none(), _none(), np.zeros((0, 0)), empty, empty, t_sd
        )
    nt = total[f"nt_{e}"]
    groups = np.flatnonzero(nt > 0)
    if len(groups) < 2:
        raise DataError(
            f"Treatment {eq.label!r} has fewer than 2 groups of treated "
            f"units for modifiers {eq.modifiers}; use "
            f"'{eq.arm.variable} : 1' for one pooled effect."
        )
    coders = plan.coders[e]
    table = combination_table(coders, groups, nt, total[f"n_{e}"])
    sz, szz = total[f"sz_{e}"], total[f"szz_{e}"]
    means = plan.z0[e] + sz[groups] / nt[groups, None]
    if eq.group_by:
        check_constant(eq, sz[groups], szz[groups], nt[groups])
        table = site_table(table, eq, means)
    grouping = Grouping(_none(), table, coders)
    zm = sz.sum(axis=0) / nt.sum()
    zv = szz.sum(axis=0) / nt.sum() - zm**2
    return EquationStatistics(
        Equation(
            arm, np.zeros((0, L)), eq.z_names, eq.modifiers, grouping, eq.group_by
        ),
        groups,
        nt[groups].astype(int),
        means,
        plan.z0[e] + zm,
        np.sqrt(np.maximum(zv, 0.0)),
        t_sd,
    )


def check_constant(
    eq: Equation, sz: np.ndarray, szz: np.ndarray, nt: np.ndarray
) -> None:
    """DataError when a group's predictors (modifier columns) vary among its
    treated units (groups given by a variable)."""
    spread = szz / nt[:, None] - (sz / nt[:, None]) ** 2
    scale = np.maximum(szz.sum(axis=0) / nt.sum(), 1.0)
    varying = [
        z for j, z in enumerate(eq.z_names) if spread[:, j].max() > 1e-9 * scale[j]
    ]
    if varying:
        raise DataError(
            f"Treatment {eq.label!r} is grouped by {eq.group_by!r}, so its "
            "modifiers are the groups' predictors and must be constant within "
            f"each group; {', '.join(map(repr, varying))} vary within groups."
        )


def site_table(table: pd.DataFrame, eq: Equation, means: np.ndarray) -> pd.DataFrame:
    """The group table with each group's predictors (modifier columns that
    are plain variables), as the in-memory design shows them."""
    position = list(table.columns).index(eq.group_by) + 1
    front, back = table.iloc[:, :position], table.iloc[:, position:]
    columns = {
        m: means[:, eq.z_names.index(m)] for m in eq.modifiers if m in eq.z_names
    }
    return pd.concat([front, pd.DataFrame(columns), back], axis=1)


def combination_table(
    coders: dict[str, Coder], keys: np.ndarray, nt: np.ndarray, n: np.ndarray
) -> pd.DataFrame:
    """The group table of the modifier combinations ``keys`` (row-major keys, so
    lexicographic in the codes, as :func:`make_grouping` orders groups)."""
    sizes = [len(c.categories) for c in coders.values()]
    codes = np.column_stack(np.unravel_index(keys, sizes))
    return group_table(coders, codes, nt[keys], n[keys])


def scaling(
    plan: Plan, total: dict[str, Any], stats: list[EquationStatistics]
) -> tuple[Scaling, np.ndarray]:
    """The centring and scaling of X and Z, and x's mean on the shifted scale."""
    VtV, N = total["VtV"], int(total["n"])
    K = len(plan.reference.x_names)
    x_m = VtV[0, 1 : 1 + K] / N
    x_sd = np.sqrt(np.maximum(np.diag(VtV)[1 : 1 + K] / N - x_m**2, 0.0))
    with_groups = [s for s in stats if s.equation.has_groups]
    z_mean = [s.z_mean for s in with_groups]
    z_sd = np.concatenate([s.z_sd for s in with_groups]) if with_groups else _none()
    sc = Scaling(
        plan.x0 + x_m,
        np.where(x_sd > 0, x_sd, 1.0),
        np.concatenate(z_mean) if z_mean else np.zeros(0),
        np.where(z_sd > 0, z_sd, 1.0),
    )
    return sc, x_m


def raw_gram(
    total: dict[str, Any], raw: RawColumns, stats: list[EquationStatistics]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """R and r: the Gram matrix of [V, T_e 1{g}] and its products with y - y0;
    with where each equation's group columns start."""
    P0 = raw.size
    sizes = [len(s.groups) for s in stats]
    P = P0 + sum(sizes)
    R, r = np.zeros((P, P)), np.zeros(P)
    R[:P0, :P0], r[:P0] = total["VtWV"], total["VtWy"]
    starts = [int(s) for s in np.cumsum([P0, *sizes])[:-1]]
    for e, se in enumerate(stats):
        if not len(se.groups):
            continue
        rows = slice(starts[e], starts[e] + len(se.groups))
        R[rows, :P0] = total[f"tv_{e}"][se.groups]
        R[:P0, rows] = total[f"tv_{e}"][se.groups].T
        r[rows] = total[f"ty_{e}"][se.groups]
        for f, sf in enumerate(stats):
            if f >= e and len(sf.groups):
                cols = slice(starts[f], starts[f] + len(sf.groups))
                block = total[f"tt_{e}_{f}"][np.ix_(se.groups, sf.groups)]
                R[rows, cols], R[cols, rows] = block, block.T
    return R, r, starts


def raw_to_w(
    layout: Layout,
    plan: Plan,
    raw: RawColumns,
    stats: list[EquationStatistics],
    sc: Scaling,
    x_m: np.ndarray,
    starts: list[int],
) -> np.ndarray:
    """M with W = [V, T 1{g}] M: W's blocks, named by the layout, from the raw
    columns (T_e (Z - zbar_g) = T_e Z - sum_g zbar_g T_e 1{g})."""
    P = raw.size + sum(len(s.groups) for s in stats)
    M = np.zeros((P, layout.P))
    M[0, 0] = 1.0
    for k in range(layout.K):
        M[1 + k, 1 + k] = 1.0 / sc.x_scale[k]
        M[0, 1 + k] = -x_m[k] / sc.x_scale[k]
    for e, block in enumerate(layout.equations):
        if not block.has_groups:
            M[raw.treatment[e], layout.treatment.start + e] = 1.0
            continue
        rows = slice(starts[e], starts[e] + block.n_groups)
        zs = sc.z_scale[block.lambdas]
        dev = stats[e].means - plan.z0[e]  # zbar_g on the shifted scale
        for j in range(len(block.z_names)):
            col = layout.deviations.start + block.lambda_start + j
            M[raw.modifiers[e][j], col] = 1.0 / zs[j]
            M[rows, col] = -dev[:, j] / zs[j]
        theta_cols = layout.groups.start + block.theta_start + np.arange(block.n_groups)
        M[rows, theta_cols] = np.eye(block.n_groups)
    return M


def assemble(
    plan: Plan,
    total: dict[str, Any],
    n_dropped: int,
    warn_groups: bool = True,
    normalize_weights: bool = True,
) -> tuple[Design, DesignSummary]:
    """The design (labels, groups; no rows) and its summary from the sums."""
    ref = plan.reference
    N, Vty, yty = int(total["n"]), total["Vty"], total["yty"]
    raw = raw_columns(ref)
    check_identified(total["VtV"], raw.names)
    stats = [equation_statistics(e, plan, total, raw) for e in range(len(plan.cells))]
    equations = [s.equation for s in stats]
    sc, x_m = scaling(plan, total, stats)
    R, r, starts = raw_gram(total, raw, stats)
    design = Design(
        ref.formula,
        np.zeros(0),
        np.zeros((0, len(ref.x_names))),
        list(ref.x_names),
        equations,
        pd.DataFrame(),
        n_dropped,
        ref.specs,
        {},
        n_rows=N,
    )
    layout = Layout.build(
        list(ref.x_names),
        [
            (eq.label, tuple(eq.z_names), len(s.groups))
            for eq, s in zip(equations, stats, strict=True)
        ],
    )
    M = raw_to_w(layout, plan, raw, stats, sc, x_m, starts)
    WtW = M.T @ R @ M
    y_m = Vty[0] / N  # R and r hold y - y0; the model's y_shift is y0 + y_m
    if total["w"] <= 0:
        raise DataError(f"Weights {plan.weights!r} are all zero in the rows used.")
    # weights scaled to mean 1 (normalize_weights), or as given
    c = N / total["w"] if normalize_weights else 1.0
    VtWy, ytWy = total["VtWy"], total["ytWy"]
    summary = DesignSummary(
        n=N,
        y_mean=plan.y0 + y_m,
        y_sd=float(np.sqrt(max(yty / N - y_m**2, 0.0))),
        scaling=sc,
        group_counts=[s.counts for s in stats],
        group_means=[s.means for s in stats],
        t_sd=np.asarray([s.t_sd for s in stats]),
        gaussian={
            "N": c * total["w"],
            "WtW": c * (WtW + WtW.T) / 2.0,
            "Wty": c * M.T @ (r - y_m * R[:, 0]),
            "yty": c * (ytWy - 2 * y_m * VtWy[0] + R[0, 0] * y_m**2),
        },
    )
    if warn_groups:
        for eq in equations:
            if eq.has_groups:
                warn_about_groups(eq.grouping.table, eq.label)
                warn_saturated(eq)
    return design, summary


def _none() -> np.ndarray:
    return np.zeros(0, dtype=int)
