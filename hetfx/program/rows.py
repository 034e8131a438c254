"""Row-wise Stan data: the linear predictor at its true cost, and exact
aggregation of repeated rows.

The row-wise programs (every family but the gaussian, which reads sufficient
statistics) split W = [1, X, T, T.*(Z - zbar_g), T.*1{g}] in two:

    eta_i = alpha + W_fixed,i [beta, a, lambda] + sum_e T_e,i theta[g_e(i)]

``W_fixed`` holds the K + E + L columns before the group block; the intercept,
the group effects and the varying intercepts enter through one sparse product
J [alpha; theta; b] (:meth:`RowData.lookup`, compressed sparse rows, one
autodiff node) instead of G indicator columns, so a gradient costs
N (K + E + L) + N (1 + E + factors) rather than N (K + E + L + G). The Stan
data's W leaves out the columns that are zero in every row (T's column of an
equation with groups, whose a enters through theta's prior mean, and
T.*(Z - zbar_g) of discrete modifiers): N K plus the continuous modifiers'
columns.

Rows whose W_fixed, T, groups and varying-intercept levels coincide share eta;
for families whose likelihood of the rows equals that of their sums up to a
constant (binomial counts, Poisson counts and exposures, category counts),
:func:`aggregate` sums them into one row.

Rows that share only their intercept (the same row of J: groups, T and levels)
form a segment; :func:`by_segment` sorts the rows into runs of segments, so a
family's GLM function takes each run with one scalar intercept (its lookup J
then has a row per segment), at no per-row autodiff cost for the intercept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hetfx.design.factors import level_offsets
from hetfx.design.grouping import NO_GROUP

if TYPE_CHECKING:
    from hetfx.design.build import Design
    from hetfx.program.standata import Scaling


# the row-wise Stan data that only the pilot fit reads (pilot_design,
# parameterization.level_variance): no program declares them
PILOT_INDICES = ("t_group", "theta_slot", "level_index")


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
    segment_start : numpy.ndarray, optional
        (segments + 1,) int, 1-based: segment s is rows
        ``segment_start[s] .. segment_start[s + 1] - 1``, which share their
        intercept (:func:`by_segment`); None: every row is its own segment.
    """

    W: np.ndarray
    t_group: np.ndarray
    theta_slot: np.ndarray
    n_groups: int
    level_index: np.ndarray | None = None
    segment_start: np.ndarray | None = None

    @property
    def levels(self) -> np.ndarray:
        """``level_index``, (0, N) without factors."""
        if self.level_index is None:
            return np.zeros((0, self.n), dtype=int)
        return self.level_index

    @property
    def n(self) -> int:
        return int(self.W.shape[0])

    @property
    def starts(self) -> np.ndarray:
        """``segment_start``; 1..N + 1 when every row is its own segment."""
        if self.segment_start is None:
            return np.arange(1, self.n + 2)
        return self.segment_start

    def take(self, rows: np.ndarray) -> RowData:
        """These rows (an index array), unsegmented."""
        return RowData(
            self.W[rows],
            self.t_group[rows],
            self.theta_slot[:, rows],
            self.n_groups,
            self.levels[:, rows],
        )

    def intercept_key(self) -> np.ndarray:
        """What decides a row's intercept (its row of J): T, the groups and
        the levels, one row per data row."""
        return np.column_stack([self.t_group, self.theta_slot.T, self.levels.T])

    def stan_data(self) -> dict[str, Any]:
        """The Stan data: W (its columns that are not zero in every row, and
        their 1-based places ``w_columns``), the segments, and the lookup
        matrix J of the distinct intercepts in compressed sparse rows
        (``lookup_w``, 1-based ``lookup_v`` and ``lookup_u``) with each row's
        (``intercept_index``): the segments where the rows go by segment, else
        the distinct rows of J; besides the indices the pilot fit reads
        (``t_group``, ``theta_slot``, ``level_index``)."""
        starts = self.starts
        if self.segment_start is not None:  # a segment's rows share their row
            first = starts[:-1] - 1
            index = np.repeat(np.arange(1, len(first) + 1), np.diff(starts))
        else:
            _, first, inverse = np.unique(
                self.intercept_key(), axis=0, return_index=True, return_inverse=True
            )
            index = inverse.ravel() + 1
        lookup = self.lookup()[first]
        used = np.flatnonzero((self.W != 0).any(axis=0))
        return {
            "N": self.n,
            "n_w_columns": used.size,
            "w_columns": used + 1,
            "W": self.W if used.size == self.W.shape[1] else self.W[:, used],
            "n_segments": len(starts) - 1,
            "segment_start": starts,
            "n_intercepts": len(first),
            "intercept_index": index,
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

    def group_block(self) -> Any:
        """The T.*1{g} block (N, G) that the lookup replaces, sparse (the
        pilot's design): T_e,i in the column of row i's group in equation e."""
        return self.lookup()[:, 1 : 1 + self.n_groups]

    def group_columns(self) -> np.ndarray:
        """:meth:`group_block` dense (for checks)."""
        return self.group_block().toarray()


def pilot_design(
    data: dict[str, Any], n_groups: int, chunk: int = 100_000
) -> Iterator[tuple[slice, np.ndarray, Any]]:
    """The pilot's no-pooling design [1, W, T.*1{g}] of the row-wise Stan data
    ``data``, by chunks of rows: (the rows, [1, W], T.*1{g} sparse)."""
    t_group, theta_slot = np.asarray(data["t_group"]), np.asarray(data["theta_slot"])
    for start in range(0, int(data["N"]), chunk):
        part = slice(start, start + chunk)
        block = RowData(
            full_w(data, part), t_group[part], theta_slot[:, part], n_groups
        )
        yield part, np.column_stack([np.ones(block.n), block.W]), block.group_block()


def full_w(data: dict[str, Any], rows: slice = slice(None)) -> np.ndarray:
    """The rows ``rows`` of the Stan data's W with its zero columns back:
    (rows, K + E + L), [X, T, T.*(Z - zbar_g)]."""
    W = np.asarray(data["W"], dtype=float)[rows]
    full = np.zeros((W.shape[0], data["K"] + data["E"] + data["L"]))
    full[:, np.asarray(data["w_columns"], dtype=int) - 1] = W
    return full


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
    rows: RowData, sums: dict[str, np.ndarray], keys: tuple[str, ...] = ()
) -> tuple[RowData, dict[str, np.ndarray]]:
    """Merge rows with the same W_fixed, T and groups (and the same ``keys``
    of ``sums``), summing the other ``sums``.

    Parameters
    ----------
    rows : RowData
    sums : dict of numpy.ndarray
        Per-row quantities (N,) or (N, k) to add up within each distinct row.
    keys : tuple of str
        Entries of ``sums`` (N,) that merged rows share, kept as they are (the
        negative binomial's count and exposure).

    Returns
    -------
    RowData, dict
        The distinct rows (in sorted order) and the summed quantities.
    """
    key = np.column_stack(
        [rows.W, rows.intercept_key()]
        + [np.asarray(sums[name], dtype=float) for name in keys]
    )
    distinct, first, inverse = np.unique(
        key, axis=0, return_index=True, return_inverse=True
    )
    inverse = inverse.ravel()
    m = distinct.shape[0]
    summed = {name: np.asarray(sums[name], dtype=float)[first] for name in keys}
    for name, values in sums.items():
        if name in keys:
            continue
        values = np.asarray(values, dtype=float)
        out = np.zeros((m,) + values.shape[1:])
        np.add.at(out, inverse, values)
        summed[name] = out
    return rows.take(first), summed


#: Fewest rows a segment must average for the likelihood to run by segment: a
#: GLM call costs about as much as 70 rows' indexed intercepts (the Tomz-Weeks
#: bernoulli model, 25 runs of 48 rows: a gradient 53-57 us indexed, 57-60 us
#: by segment; 150-row runs: 172 against 155 us).
SEGMENT_MIN_ROWS = 64


def by_segment(
    rows: RowData, sums: dict[str, np.ndarray], min_rows: int = SEGMENT_MIN_ROWS
) -> tuple[RowData, dict[str, np.ndarray]]:
    """Sort the rows into runs that share their intercept (the same groups, T
    and levels: the same row of J), where the runs average ``min_rows`` rows
    or more; else return the rows as they are.

    Parameters
    ----------
    rows : RowData
    sums : dict of numpy.ndarray
        Per-row quantities of the likelihood, sorted with the rows.

    Returns
    -------
    RowData, dict
        The rows with ``segment_start`` set (or unchanged) and ``sums``.
    """
    key = rows.intercept_key()
    order = np.lexsort(key.T[::-1])  # by the first column, then the next, ...
    new_run = np.any(np.diff(key[order], axis=0) != 0, axis=1)
    starts = np.concatenate([[0], np.flatnonzero(new_run) + 1, [rows.n]])
    if (len(starts) - 1) * min_rows > rows.n:
        return rows, sums
    segmented = replace(rows.take(order), segment_start=starts + 1)
    return segmented, {name: np.asarray(v)[order] for name, v in sums.items()}
