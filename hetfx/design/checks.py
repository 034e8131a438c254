"""Checks of a design: identifiability and groups the data can inform.

Both the in-memory design and the partitioned one run them (the partitioned
path checks the Gram matrix of the same columns).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hetfx.design.grouping import GroupingWarning
from hetfx.errors import DataError

#: rows in a chunk of the identification check (their columns stay in cache)
CHECK_CHUNK_ROWS = 65_536

if TYPE_CHECKING:
    from hetfx.design.build import Equation


def find_collinear(
    matrix: np.ndarray, names: list[str], tol: float = 1e-8
) -> str | None:
    """Name the first column that is constant or a combination of earlier ones.

    One QR decomposition of [1, matrix]: a column whose diagonal entry of R is
    negligible against its norm lies in the span of the columns before it.

    Returns a message, or None when the columns are linearly independent of each
    other and of the intercept.
    """
    if matrix.shape[1] == 0:
        return None
    for j, name in enumerate(names):
        if np.ptp(matrix[:, j]) == 0:
            return f"{name!r} is constant"
    if clearly_independent(matrix):  # the QR below would find nothing
        return None
    full = np.column_stack([np.ones(matrix.shape[0]), matrix])
    r = np.abs(np.diag(np.linalg.qr(full, mode="r")))
    # more columns than rows: R has only n diagonal entries, and every column
    # past them is a combination of earlier ones
    r = np.concatenate([r, np.zeros(full.shape[1] - r.size)])
    norms = np.linalg.norm(full, axis=0)
    bad = np.flatnonzero(r[1:] <= tol * np.maximum(norms[1:], 1.0) * 10)
    if bad.size == 0:
        return None
    j = int(bad[0])
    coef, *_ = np.linalg.lstsq(full[:, : j + 1], full[:, j + 1], rcond=None)
    partners = [names[i - 1] for i in np.flatnonzero(np.abs(coef) > 1e-6) if i > 0]
    with_ = ", ".join(map(repr, partners)) or "the intercept"
    return f"{names[j]!r} is perfectly collinear with {with_}"


def clearly_independent(matrix: np.ndarray, margin: float = 1e-5) -> bool:
    """Whether [1, matrix] is far from collinear, from its Gram matrix alone
    (see :meth:`ColumnStatistics.clearly_independent`)."""
    return column_statistics([np.asarray(matrix, dtype=float)]).clearly_independent(
        margin
    )


@dataclass(frozen=True)
class ColumnStatistics:
    """The rows, column sums, Gram matrix and ranges of a matrix's columns,
    summed over chunks of its rows."""

    n: int
    sums: np.ndarray
    gram: np.ndarray
    lowest: np.ndarray
    highest: np.ndarray

    def any_constant(self) -> bool:
        return bool((self.highest == self.lowest).any())

    def clearly_independent(self, margin: float = 1e-5) -> bool:
        """Whether [1, matrix] is far from collinear.

        Each diagonal entry of R in the QR decomposition of the
        column-normalised [1, matrix] is at least its smallest singular value,
        the square root of the smallest eigenvalue of the Gram matrix of those
        columns (their correlation matrix with the intercept). When that exceeds
        ``margin`` (100 times the QR test's threshold, far above the Gram's
        rounding), no column is collinear. One product of the columns instead of
        a QR decomposition of all the rows.
        """
        if not (np.isfinite(self.sums).all() and np.isfinite(self.gram).all()):
            return False  # infinite or missing values: leave it to the QR check
        sums = self.sums
        gram = np.block(
            [
                [np.full((1, 1), float(self.n)), sums[None, :]],
                [sums[:, None], self.gram],
            ]
        )
        norms = np.sqrt(np.diag(gram))
        if norms.min() <= 0:
            return False
        corr = gram / np.outer(norms, norms)
        if not np.isfinite(corr).all():  # overflow: leave it to the QR check
            return False
        smallest = np.linalg.eigvalsh(corr)[0]
        return bool(smallest > (margin * max(1.0, 1.0 / norms.min())) ** 2)


def column_statistics(chunks: Iterable[np.ndarray]) -> ColumnStatistics:
    """The :class:`ColumnStatistics` of the matrix whose row chunks are
    ``chunks`` (each chunk's columns stay in cache; no copy of all the rows)."""
    n, sums, gram, lowest, highest = 0, 0.0, 0.0, np.inf, -np.inf
    for chunk in chunks:
        n += chunk.shape[0]
        sums = sums + chunk.sum(axis=0)
        gram = gram + chunk.T @ chunk
        lowest = np.minimum(lowest, chunk.min(axis=0, initial=np.inf))
        highest = np.maximum(highest, chunk.max(axis=0, initial=-np.inf))
    return ColumnStatistics(n, np.asarray(sums), np.asarray(gram), lowest, highest)


def check_equation(eq: Equation) -> None:
    """DataError when an equation has fewer than 2 groups or collinear modifiers."""
    if not eq.has_groups:
        return
    if eq.grouping.n_groups < 2:
        raise DataError(
            f"Treatment {eq.label!r} has fewer than 2 groups of treated units for "
            f"modifiers {eq.modifiers}; use '{eq.arm.variable} : 1' for one pooled "
            "effect."
        )
    treated = eq.arm.treated
    problem = find_collinear(eq.Z[treated], eq.z_names)
    if problem:
        raise DataError(f"Among the treated units of {eq.label!r}, modifier {problem}.")


def warn_saturated(eq: Equation) -> None:
    """Warn when the modifier regression leaves no between-group variation."""
    if eq.grouping.n_groups <= eq.Z.shape[1] + 1:
        warnings.warn(
            f"Treatment {eq.label!r}: {eq.grouping.n_groups} groups for "
            f"{eq.Z.shape[1]} modifier columns: the regression on the modifiers "
            "already fits every group, so the group deviations rest on the prior "
            "alone and sampling may be slow. Use coarser modifiers or more groups.",
            GroupingWarning,
            stacklevel=4,
        )


def check_full_design(
    X: np.ndarray, x_names: list[str], equations: list[Equation]
) -> None:
    """The design without group columns must have full column rank.

    The Gram matrix of its columns, summed over chunks of rows, settles the
    usual case; a design it does not clear is stacked whole for the QR check,
    which names the collinear column.
    """
    names = list(x_names)
    for eq in equations:
        names.append(f"treatment {eq.label!r}")
        names += [f"{eq.label}:{z}" for z in eq.z_names]
    n = X.shape[0]
    parts = [slice(s, s + CHECK_CHUNK_ROWS) for s in range(0, n, CHECK_CHUNK_ROWS)]
    stats = column_statistics(fixed_columns(X, equations, part) for part in parts)
    if not stats.any_constant() and stats.clearly_independent():
        return
    problem = find_collinear(fixed_columns(X, equations, slice(None)), names)
    if problem:
        raise DataError(f"The design is not identified: {problem}.")


def fixed_columns(X: np.ndarray, equations: list[Equation], rows: slice) -> np.ndarray:
    """[X, T, T.*Z] of each equation, for the rows ``rows``."""
    cols = [X[rows]]
    for eq in equations:
        t = eq.arm.values[rows]
        cols.append(t[:, None])
        if eq.Z.shape[1]:
            cols.append(t[:, None] * eq.Z[rows])
    return np.column_stack(cols)


def check_identified(gram: np.ndarray, names: list[str]) -> None:
    """DataError naming the first column that is a combination of earlier ones."""
    d = np.sqrt(np.maximum(np.diag(gram), 1e-300))
    corr = gram / np.outer(d, d)
    for j in range(1, len(names) + 1):
        block = corr[: j + 1, : j + 1]
        if np.linalg.eigvalsh(block)[0] < 1e-9:
            raise DataError(
                f"The design is not identified: {names[j - 1]!r} is "
                "collinear with the columns before it."
            )
