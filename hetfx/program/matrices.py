"""W = [1, X, T, T.*(Z - zbar_g), T.*1{g}] of an in-memory design, and the
sufficient statistics of the gaussian likelihood.

The group block T.*1{g} has one non-zero per row and equation, so it is built
sparse (:func:`group_matrix`) and the statistics are summed by blocks: a
gradient-free pass whose cost is N (1 + K + E + L)^2 plus N (1 + K + E + L)
for the group block, not N P^2 with P counting every group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hetfx.design.grouping import NO_GROUP
from hetfx.program.levels import level_data

if TYPE_CHECKING:
    from scipy import sparse

    from hetfx.design.build import Design
    from hetfx.program.standata import Scaling

#: rows a chunk of the sufficient statistics: its arrays (under 20 MB) are
#: reused from chunk to chunk instead of mapped afresh
CHUNK_ROWS = 100_000


def design_matrix(
    design: Design,
    sc: Scaling,
    rows: slice = slice(None),
    group_columns: bool = True,
) -> np.ndarray:
    """The centred and scaled W (with the intercept column) for ``rows``;
    without its T.*1{g} block when ``group_columns`` is False (row-wise programs
    look the group effects up by index, :mod:`hetfx.program.rows`)."""
    X = design.X[rows]
    n = X.shape[0]
    cols = [np.ones((n, 1)), (X - sc.x_mean) / sc.x_scale]
    t_cols, tz_cols = [], []
    for eq, block in zip(design.equations, design.layout.equations, strict=True):
        t = eq.arm.values[rows]
        L = eq.Z.shape[1]
        if not eq.has_groups:  # one pooled effect: T carries a
            t_cols.append(t[:, None])
            continue
        t_cols.append(np.zeros((n, 1)))  # a enters through theta's prior mean
        g = eq.grouping.index[rows]
        has = g != NO_GROUP
        # within-group deviations T (Z - zbar_g): zero for discrete modifiers
        zbar = eq.group_means()
        dev = np.zeros((n, L))
        dev[has] = eq.Z[rows][has] - zbar[g[has]]
        tz_cols.append(t[:, None] * dev / sc.z_scale[block.lambdas])
    fixed = np.column_stack(cols + t_cols + tz_cols)
    if not group_columns:
        return fixed
    return np.column_stack([fixed, group_matrix(design, rows).toarray()])


def group_matrix(design: Design, rows: slice = slice(None)) -> sparse.csr_matrix:
    """The T.*1{g} block of W for ``rows``, (n, G) sparse: T_e,i in the column
    of row i's group in equation e."""
    from scipy import sparse

    n = design.X[rows].shape[0]
    at, column, value = [np.zeros(0, dtype=int)], [np.zeros(0, dtype=int)], [[]]
    for eq, block in zip(design.equations, design.layout.equations, strict=True):
        if not eq.has_groups:
            continue
        g = eq.grouping.index[rows]
        has = np.flatnonzero(g != NO_GROUP)
        at.append(has)
        column.append(block.theta_start + g[has])
        value.append(eq.arm.values[rows][has])
    return sparse.csr_matrix(
        (np.concatenate(value), (np.concatenate(at), np.concatenate(column))),
        shape=(n, design.layout.G),
    )


def add_block_statistics(
    gram: np.ndarray,
    cross: np.ndarray,
    fixed: np.ndarray,
    groups: sparse.csr_matrix,
    w: np.ndarray,
    r: np.ndarray,
) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Add rows' W'Omega W and W'Omega r to ``gram`` and ``cross``, W = [fixed,
    groups] with the group block sparse; of gram the blocks on and above the
    diagonal (the caller mirrors the one below). Returns the weighted blocks."""
    from scipy import sparse

    F = fixed.shape[1]
    fixed_w, groups_w = fixed * w[:, None], sparse.diags(w) @ groups
    gram[:F, :F] += fixed_w.T @ fixed
    gram[:F, F:] += (groups_w.T @ fixed).T
    gram[F:, F:] += (groups_w.T @ groups).toarray()
    cross += np.concatenate([fixed_w.T @ r, groups_w.T @ r])
    return fixed_w, groups_w


def sufficient_statistics(
    design: Design, sc: Scaling, y_shift: float, levels: bool = False
) -> dict[str, Any]:
    """W'W, W'y, y'y and N of the gaussian likelihood, in chunks of rows; with
    survey weights W'Omega W, W'Omega y, y'Omega y and N = sum of the weights.

    With ``levels``, also the data of the design's one varying-intercept
    factor that the collapsed program integrates out
    (:func:`hetfx.program.levels.level_data`; empty without a factor)."""
    from scipy import sparse

    P = design.layout.P
    F = P - design.layout.G  # columns before the group block
    WtW, Wty, yty = np.zeros((P, P)), np.zeros(P), 0.0
    weights = design.weights
    factor = design.factors[0] if levels and design.factors else None
    level_sum = level_n = None
    if factor is not None:
        level_sum = np.zeros((factor.n_levels, P + 1))
        level_n = np.bincount(factor.index, weights, minlength=factor.n_levels)
    for start in range(0, design.n, CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        fixed = design_matrix(design, sc, rows, group_columns=False)
        groups = group_matrix(design, rows)
        w = np.ones(fixed.shape[0]) if weights is None else weights[rows]
        r = design.y[rows] - y_shift
        fixed_w, groups_w = add_block_statistics(WtW, Wty, fixed, groups, w, r)
        yty += float(r @ (w * r))
        if factor is not None:  # s_j = sum_i w_i [W_i, y_i] per level
            index = factor.index[rows]
            member = sparse.csr_matrix(
                (np.ones(index.size), (index, np.arange(index.size))),
                shape=(factor.n_levels, index.size),
            )
            level_sum += np.column_stack(
                [member @ fixed_w, (member @ groups_w).toarray(), member @ (w * r)]
            )
    WtW[F:, :F] = WtW[:F, F:].T  # exactly symmetric for quad_form_sym
    WtW = (WtW + WtW.T) / 2.0
    n = float(design.n if weights is None else weights.sum())
    out = {"N": n, "WtW": WtW, "Wty": Wty, "yty": yty}
    if levels:
        out.update(level_data(level_n, level_sum, P + 1))
    return out
