"""How the categorical program's coefficients are correlated across categories.

Every non-reference category is compared with the same reference, so the
estimates of one coefficient in two categories are correlated: a row with
shares q (of the non-reference categories) carries the information
m (diag(q) - q q') about its linear predictors, whose inverse has correlation
sqrt(q_c q_d / ((1 - q_c) (1 - q_d))) between categories c and d (0.54 at
shares 0.29, 0.47, 0.25). A diagonal metric cannot follow that: NUTS takes
about sqrt(cond) times more steps. The program samples each coefficient's row
z (one entry per category) with the coefficient = offset + (z L') .* unit, L
the Cholesky factor of the estimates' correlation (a linear map: constant
Jacobian), so that z is close to uncorrelated:

- alpha and beta: the information of all rows;
- the group effects theta_g: their conditional posterior given sigma_theta,
  precision diag(1 / sigma_theta^2) + M_g (M_g the group's rows'), at
  sigma_theta = the reference c of pooling_scale;
- a and lambda of an equation: the meta-regression of its groups,
  precision sum_g (M_g^-1 + diag(sigma_theta^2))^-1, at the same sigma_theta
  (the treated rows' information where the equation has no deviations).

Shares take half a unit of every category, so a group without a category
still gives a finite correlation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hetfx.design.layout import Layout

PSEUDO_COUNT = 0.5  # units added to each category's count in the shares


def information(counts: np.ndarray) -> np.ndarray:
    """m (diag(q) - q q'): the information about the non-reference linear
    predictors of ``counts`` (one per category, reference first)."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    shares = (counts + PSEUDO_COUNT) / (total + PSEUDO_COUNT * counts.size)
    q = shares[1:]
    return total * (np.diag(q) - np.outer(q, q))


def correlation_factor(covariance: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of ``covariance`` scaled to unit diagonal."""
    sd = np.sqrt(np.diag(covariance))
    return np.linalg.cholesky(covariance / np.outer(sd, sd))


def group_counts(data: dict[str, Any], n_groups: int) -> np.ndarray:
    """Units of each category in each group's rows, (G, C), from the rows of
    the lookup matrix J, one per distinct intercept (weighted by T^2: a
    continuous treatment's rows inform theta_g by T^2)."""
    counts = np.asarray(data["counts"], dtype=float)
    by_intercept = np.zeros((int(data["n_intercepts"]), counts.shape[1]))
    np.add.at(by_intercept, np.asarray(data["intercept_index"]) - 1, counts)
    u = np.asarray(data["lookup_u"]) - 1
    column = np.asarray(data["lookup_v"]) - 1  # 0: alpha, 1..G: theta
    value = np.asarray(data["lookup_w"], dtype=float)
    intercept = np.repeat(np.arange(len(u) - 1), np.diff(u))
    theta = (column >= 1) & (column <= n_groups)
    out = np.zeros((n_groups, counts.shape[1]))
    np.add.at(
        out,
        column[theta] - 1,
        value[theta, None] ** 2 * by_intercept[intercept[theta]],
    )
    return out


def category_correlation(
    data: dict[str, Any],
    layout: Layout,
    reference: np.ndarray,
    pilot_units: bool,
    conditional: bool,
) -> dict[str, np.ndarray]:
    """``corr_controls`` (D, D), ``corr_treated`` (E, D, D) and ``corr_groups``
    (G, D, D): Cholesky factors of the correlation across categories of alpha
    and beta, of each equation's a and lambda, of each group effect.

    Parameters
    ----------
    data : dict
        The categorical program's data (``counts``, the intercepts, J).
    layout : Layout
    reference : ndarray
        sigma_theta_reference_c, (E, D): the sigma_theta at which the group
        effects' correlations are taken.
    pilot_units : bool
        alpha, beta, a and lambda are sampled in the pilots' units; if not
        (sampling from the priors, independent across categories), every
        factor is the identity.
    conditional : bool
        The group effects are sampled around their conditional posterior; if
        not (fixed weights), theta and the equations' a and lambda keep the
        identity.
    """
    counts = np.asarray(data["counts"], dtype=float)
    D = counts.shape[1] - 1
    controls = np.eye(D)
    if pilot_units:
        controls = correlation_factor(np.linalg.inv(information(counts.sum(axis=0))))
    treated = np.repeat(np.eye(D)[None], layout.E, axis=0)
    groups = np.repeat(np.eye(D)[None], layout.G, axis=0)
    if not (pilot_units and conditional) or layout.G == 0:
        return {
            "corr_controls": controls,
            "corr_treated": treated,
            "corr_groups": groups,
        }
    per_group = group_counts(data, layout.G)
    deviations = data.get("deviations", [1] * layout.E)
    for e, block in enumerate(layout.equations):
        if not block.has_groups:
            continue
        spread = np.diag(np.asarray(reference[e], dtype=float) ** 2)
        meta = np.zeros((D, D))
        for g in range(block.thetas.start, block.thetas.stop):
            if per_group[g].sum() <= 0:
                continue
            info = information(per_group[g])
            if deviations[e]:
                posterior = np.linalg.inv(np.linalg.inv(spread) + info)
                groups[g] = correlation_factor(posterior)
                meta += np.linalg.inv(np.linalg.inv(info) + spread)
            else:
                meta += info
        if meta.any():
            treated[e] = correlation_factor(np.linalg.inv(meta))
    return {"corr_controls": controls, "corr_treated": treated, "corr_groups": groups}
