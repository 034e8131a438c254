"""Row-wise Stan data: the linear predictor at its true cost, and exact
aggregation of repeated rows.

The row-wise programs (every family but the gaussian, which reads sufficient
statistics) split W = [1, X, T, T.*(Z - zbar_g), T.*1{g}] in two:

    eta_i = alpha + W_fixed,i [beta, a, lambda] + sum_e T_e,i theta[g_e(i)]

``W_fixed`` holds the K + E + L columns before the group block; the intercept,
the group effects and the varying intercepts enter through one sparse product
J [alpha; theta; b] (:meth:`RowData.lookup`, compressed sparse rows, one
autodiff node) instead of G indicator columns, so a gradient costs
N (K + E + L) + N (1 + E + factors) rather than N (K + E + L + G).

Rows whose W_fixed, T, groups and varying-intercept levels coincide share eta;
for families whose likelihood of the rows equals that of their sums up to a
constant (binomial counts, Poisson counts and exposures, category counts),
:func:`aggregate` sums them into one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hetfx.design.factors import level_offsets
from hetfx.design.grouping import NO_GROUP

if TYPE_CHECKING:
    from hetfx.design.build import Design
    from hetfx.program.standata import Scaling


@dataclass(frozen=True)
class RowData:
    """The design of a row-wise program.

    Attributes
    ----------
    W : numpy.ndarray
        (N, K + E + L): the centred, scaled X, T and T.*(Z - zbar_g).
    t_group : numpy.ndarray
        (N, E): T_e,i where row i is in a group of equation e, else 0.
    theta_slot : numpy.ndarray
        (E, N) int: row i's slot in ``append_row(0, theta)`` for equation e:
        1 (zero) outside its groups, 1 + the 1-based theta index inside.
    n_groups : int
        G, the length of theta (where b's columns of the lookup start).
    level_index : numpy.ndarray, optional
        (factors, N) int: row i's level of each varying-intercept factor, as
        a 1-based index into the stacked levels b.
    """

    W: np.ndarray
    t_group: np.ndarray
    theta_slot: np.ndarray
    n_groups: int
    level_index: np.ndarray | None = None

    @property
    def levels(self) -> np.ndarray:
        """``level_index``, (0, N) without factors."""
        if self.level_index is None:
            return np.zeros((0, self.n), dtype=int)
        return self.level_index

    @property
    def n(self) -> int:
        return int(self.W.shape[0])

    def stan_data(self) -> dict[str, Any]:
        """The Stan data: W and the lookup matrix J in compressed sparse rows
        (``lookup_w``, 1-based ``lookup_v`` and ``lookup_u``), besides the
        indices the pilot fit reads (``t_group``, ``theta_slot``,
        ``level_index``)."""
        lookup = self.lookup()
        return {
            "N": self.n,
            "W": self.W,
            "t_group": self.t_group,
            "theta_slot": self.theta_slot,
            "level_index": self.levels,
            "n_lookup": lookup.nnz,
            "lookup_w": lookup.data,
            "lookup_v": lookup.indices + 1,
            "lookup_u": lookup.indptr + 1,
        }

    def lookup(self) -> Any:
        """J, (N, 1 + G + levels), sparse: J [alpha; theta; b] is each row's
        intercept alpha + sum_e T_e,i theta[g_e(i)] + sum_k b[level_k(i)].
        Column 1 is alpha's, then theta's (``theta_slot`` is the column,
        1-based, with slot 1 "no group" skipped) and b's."""
        from scipy import sparse

        n = self.n
        slots = self.theta_slot.T - 1  # 0: alpha's column, no group
        in_group = slots > 0
        rows = [np.arange(n), np.nonzero(in_group)[0]]
        cols = [np.zeros(n, dtype=int), slots[in_group]]
        values = [np.ones(n), self.t_group[in_group]]
        for level in self.levels:  # 1-based over the stacked levels
            rows.append(np.arange(n))
            cols.append(self.n_groups + level)
            values.append(np.ones(n))
        width = 1 + self.n_groups + (int(self.levels.max()) if self.levels.size else 0)
        J = sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, width),
        )
        J.eliminate_zeros()
        J.sort_indices()
        return J

    def group_columns(self) -> np.ndarray:
        """The dense T.*1{g} block (N, G) that the lookup replaces (for checks
        and the pilot fit)."""
        out = np.zeros((self.n, self.n_groups + 1))
        for e in range(self.t_group.shape[1]):
            slots = self.theta_slot[e] - 1
            np.add.at(out, (np.arange(self.n), slots), self.t_group[:, e])
        return out[:, 1:]


def row_data(design: Design, sc: Scaling) -> RowData:
    """The :class:`RowData` of every row of an in-memory design."""
    from hetfx.program.matrices import design_matrix

    W = design_matrix(design, sc, group_columns=False)[:, 1:]
    n = design.n
    layout = design.layout
    t_group = np.zeros((n, layout.E))
    theta_slot = np.ones((layout.E, n), dtype=int)
    for e, (eq, block) in enumerate(
        zip(design.equations, layout.equations, strict=True)
    ):
        if not block.has_groups:
            continue
        g = eq.grouping.index
        has = g != NO_GROUP
        t_group[has, e] = eq.arm.values[has]
        theta_slot[e, has] = block.theta_start + g[has] + 2
    offsets = level_offsets(design.factors)
    level_index = np.array(
        [f.index + start + 1 for f, start in zip(design.factors, offsets, strict=True)],
        dtype=int,
    ).reshape(len(design.factors), n)
    return RowData(W, t_group, theta_slot, layout.G, level_index)


def aggregate(
    rows: RowData, sums: dict[str, np.ndarray]
) -> tuple[RowData, dict[str, np.ndarray]]:
    """Merge rows with the same W_fixed, T and groups, summing ``sums``.

    Parameters
    ----------
    rows : RowData
    sums : dict of numpy.ndarray
        Per-row quantities (N,) or (N, k) to add up within each distinct row.

    Returns
    -------
    RowData, dict
        The distinct rows (in sorted order) and the summed quantities.
    """
    key = np.column_stack([rows.W, rows.t_group, rows.theta_slot.T, rows.levels.T])
    distinct, first, inverse = np.unique(
        key, axis=0, return_index=True, return_inverse=True
    )
    inverse = inverse.ravel()
    m = distinct.shape[0]
    summed = {}
    for name, values in sums.items():
        values = np.asarray(values, dtype=float)
        out = np.zeros((m,) + values.shape[1:])
        np.add.at(out, inverse, values)
        summed[name] = out
    merged = RowData(
        rows.W[first],
        rows.t_group[first],
        rows.theta_slot[:, first],
        rows.n_groups,
        rows.levels[:, first],
    )
    return merged, summed
