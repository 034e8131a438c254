"""One varying-intercept factor integrated out of the gaussian likelihood.

With b_j ~ N(0, sd^2) for the levels of one ``(1 | factor)``, the collapsed
gaussian program (``stan/gaussian_collapsed.stan.j2``) integrates b out with
the coefficients: W'W, W'y and y'y lose sum_j k_j s_j s_j', where
s_j = sum_{i in j} w_i [W_i, y_i], n_j = sum_{i in j} w_i and
k_j = 1 / (n_j + sigma^2 / sd^2). As k_j depends on the level only through
n_j, the program needs, for each distinct n_j, the matrix sum_j s_j s_j' over
the levels of that size, which this module hands over as at most rank-many
rows ("size rows"). A gradient then costs O(size rows x R^2), whatever the
numbers of rows and levels: one size (a balanced conjoint) gives at most
P + 1 rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RANK_TOLERANCE = 1e-12  # eigenvalues below this share of the largest are zero


def level_data(
    level_n: np.ndarray | None, level_sum: np.ndarray | None, columns: int
) -> dict[str, Any]:
    """The collapsed program's factor data.

    Parameters
    ----------
    level_n : numpy.ndarray or None
        (J,) n_j, the number of units (sum of their weights) of each level;
        None without a factor.
    level_sum : numpy.ndarray or None
        (J, P + 1) s_j, the (weighted) sums of each level's rows of [W, y].
    columns : int
        P + 1, for the empty arrays of a design without a factor.

    Returns
    -------
    dict
        ``level_n``, ``level_sum``, ``n_sizes``, ``size_n``, ``size_count``,
        ``n_size_rows``, ``size_of_row`` (1-based) and ``size_rows``.
    """
    if level_n is None:
        level_n, level_sum = np.zeros(0), np.zeros((0, columns))
    sizes, size_index, counts = np.unique(
        level_n, return_inverse=True, return_counts=True
    )
    blocks, owner = [], []
    # the levels of each size, in their order: one sort, not a pass per size
    members = np.split(
        np.argsort(size_index.ravel(), kind="stable"), np.cumsum(counts)[:-1]
    )
    for u, levels in enumerate(members):
        rows = size_rows(level_sum[levels])
        blocks.append(rows)
        owner.extend([u + 1] * len(rows))
    return {
        "level_n": np.asarray(level_n, dtype=float),
        "level_sum": np.asarray(level_sum, dtype=float),
        "n_sizes": len(sizes),
        "size_n": sizes.astype(float),
        "size_count": counts.astype(float),
        "n_size_rows": len(owner),
        "size_of_row": np.asarray(owner, dtype=int),
        "size_rows": np.vstack(blocks) if blocks else np.zeros((0, columns)),
    }


def size_rows(sums: np.ndarray) -> np.ndarray:
    """Rows r with sum_r r r' = sum_j s_j s_j' (``sums`` holds the s_j as
    rows): the s_j themselves when they are no more than their length,
    else the matrix's eigenvectors scaled by the roots of its positive
    eigenvalues (at most rank-many rows)."""
    if len(sums) <= sums.shape[1]:
        return sums
    values, vectors = np.linalg.eigh(sums.T @ sums)
    keep = values > RANK_TOLERANCE * max(values.max(), 0.0)
    return (vectors[:, keep] * np.sqrt(values[keep])).T
