"""Where the sampler starts, and its unit, for each coefficient.

Stan's warmup begins with a unit metric and inits drawn uniformly on (-2, 2) of
the unconstrained scale, while a coefficient's posterior sd is often far from 1
(about 0.03 for 5,000 bernoulli rows): the first adaptation window then runs
long trajectories at tiny steps, a third of a bernoulli fit's leapfrog steps.
The row-wise program (``stan/hetfx.stan.j2``) samples each coefficient as
(coefficient - loc) / scale and each group effect in units of its pilot sd
where it is centred, with loc and scale from the pilot fit. These are affine
maps fixed by the data: the posterior is unchanged, the sampler starts within
about two sds of the pilot estimate and adapts from a metric near its own.

The pilot is the no-pooling fit of :mod:`hetfx.program.parameterization`; the
coefficients' estimate and sd are those of the interaction model (the group
effects at a + zbar_g lambda), in the coordinates the program samples: alpha,
beta, and a and lambda as the treated units' level and slopes (treated_base).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import brentq

from hetfx.program.parameterization import (
    RELIABLE_DF,
    PilotGroups,
    between_group_variance,
    pilot_least_squares,
    residual_df,
)

# the x of pooling_coordinate where sigma_theta = c (h(x) = 0)
POOLING_ORIGIN = 0.18340265462711566

if TYPE_CHECKING:
    from hetfx.design.layout import Layout
    from hetfx.families import Family
    from hetfx.families.pilot import PilotStatistics


def sampler_units(
    data: dict[str, Any],
    layout: Layout,
    family: Family,
    pilot: PilotStatistics | None = None,
    pilot_groups: PilotGroups | None = None,
) -> dict[str, Any]:
    """The Stan data of the sampler's origin and units: ``coef_loc`` and
    ``coef_scale`` (:func:`coefficient_scale`), ``sigma_theta_loc``,
    ``sigma_theta_scale``, ``group_variance`` and ``spread_reference``
    (:func:`hierarchy_units`), ``theta_level`` (the pilot's treated level of
    each group sampled around its conditional posterior, where
    ``pilot_variance`` > 0; :func:`treated_levels`), ``theta_scale`` (the
    pilot sd of the other groups, their unit where centred: multiplier
    sigma_theta^w_g theta_scale_g^(1 - w_g)) and the family's own
    (:meth:`hetfx.families.Family.parameter_units`). Without a pilot (sampling
    from the priors) every scale is 1 and every origin 0.

    Parameters
    ----------
    data : dict
        The Stan data.
    layout : Layout
    family : Family
    pilot : PilotStatistics, optional
    pilot_groups : PilotGroups, optional
        The pilot's estimates of theta
        (:func:`hetfx.program.parameterization.pilot_group_estimates`).
    """
    units, residual = coefficient_scale(data, layout, pilot, family.intercept)
    units["theta_scale"] = np.ones(layout.G)
    units["theta_level"] = np.zeros(layout.G)
    units.update(hierarchy_defaults(layout.E))
    if pilot is not None and pilot_groups is not None:
        # a group sampled around its conditional posterior (pilot_variance > 0)
        # has its own unit there; the others' unit where centred is the pilot sd
        conditional = np.asarray(data["pilot_variance"]) > 0
        units["theta_scale"] = np.where(
            conditional, 1.0, np.sqrt(pilot_groups.variance)
        )
        units["theta_level"] = np.where(
            conditional, treated_levels(data, pilot_groups, family.intercept), 0.0
        )
        hierarchy_units(units, data, layout, pilot_groups)
    units.update(family.parameter_units(data, pilot, residual))
    return units


def treated_levels(
    data: dict[str, Any], pilot_groups: PilotGroups, intercept: bool
) -> np.ndarray:
    """The pilot's estimate of each group's treated level, base_g + theta_g with
    base_g = c (alpha + xbar_g beta_std) (treated_base): the data pin the
    level down apart from alpha and beta."""
    base = pilot_groups.base
    shift = np.asarray(data["theta_shift"], dtype=float)
    x_group = np.asarray(data["x_group_std"], dtype=float)
    alpha = base[0] if intercept else 0.0
    beta = base[1:]
    return shift * (alpha + x_group.reshape(len(shift), len(beta)) @ beta) + (
        pilot_groups.estimate
    )


def hierarchy_defaults(n_equations: int) -> dict[str, np.ndarray]:
    """:func:`hierarchy_units`'s data where the pilot says nothing about the
    groups: sigma_theta = c = 1 at the origin, in units of 1 on the log scale
    there, and a and lambda in fixed units."""
    return {
        "sigma_theta_reference": np.ones(n_equations),
        "sigma_theta_loc": np.full(n_equations, POOLING_ORIGIN),
        "sigma_theta_scale": np.full(n_equations, 1 / log_slope(POOLING_ORIGIN)),
        "group_variance": np.zeros(n_equations),
        "spread_reference": np.ones(n_equations),
    }


def hierarchy_units(
    units: dict[str, np.ndarray],
    data: dict[str, Any],
    layout: Layout,
    pilot_groups: PilotGroups,
) -> None:
    """Per equation with group deviations, from the pilot estimates b_g (sampling
    variances v_g) and their spread tau (DerSimonian-Laird): the variance v_e
    that G equal groups would need to inform a and lambda as these do at
    sigma_theta = tau (:func:`effective_variance`) and v_e + tau^2
    (``group_variance``, ``spread_reference``: a and lambda are sampled in
    units scaled by sqrt((sigma_theta^2 + v_e) / (v_e + tau^2)), tau taken as
    0 where it is not trusted), the reference c_e = sqrt(median
    v_g) of sigma_theta's sampled coordinate x (``sigma_theta_reference``;
    sigma_theta = c_e exp(h(x)), h(x) = x - log1p_exp(-x)^2 / 2: the log scale
    above c_e, a gaussian lower tail below), x at log tau in units of log
    sigma_theta's sd, about (2 sum_g B_g^2)^-1/2 with B_g = tau^2 / (tau^2 +
    v_g) (at most 1 when the groups say little), and the sd of a and lambda at
    least that of the meta-regression of b_g on [1, zbar_g] with
    weights 1 / (v_g + tau^2): with centred groups the data inform a and lambda
    only through the groups' spread. Unit scales where tau is 0 or rests on
    fewer than ``RELIABLE_DF`` residual degrees of freedom (sigma_theta's
    posterior then spans both regimes; x starts at sigma_theta = c_e).
    Updates ``units`` in place."""
    estimate, variance = pilot_groups.estimate, pilot_groups.variance
    deviations = data.get("deviations", [1] * layout.E)
    z_mean = np.asarray(data["z_mean"], dtype=float)
    z_scale = np.asarray(data["z_scale"], dtype=float)
    z_group = np.asarray(data["z_group"], dtype=float)
    for e, block in enumerate(layout.equations):
        if not block.has_groups or not deviations[e]:
            continue
        b, v = estimate[block.thetas], variance[block.thetas]
        zbar = z_group[block.thetas, block.lambdas]
        tau2 = between_group_variance(b, v, zbar)
        trusted = tau2 > 0 and residual_df(zbar) >= RELIABLE_DF
        spread = tau2 if trusted else 0.0
        v_e = effective_variance(v, spread)
        units["group_variance"][e] = v_e
        units["spread_reference"][e] = v_e + spread
        units["sigma_theta_reference"][e] = pooling_reference(v)
        if not trusted:
            continue  # tau says little (as for the weights): unit scales
        shrink = tau2 / (tau2 + v)
        origin = pooling_coordinate(0.5 * np.log(tau2 / np.median(v)))
        units["sigma_theta_loc"][e] = origin
        units["sigma_theta_scale"][e] = min(
            1.0, 1 / np.sqrt(2 * np.sum(shrink**2))
        ) / log_slope(origin)
        z_std = (zbar - z_mean[block.lambdas]) / z_scale[block.lambdas]
        X = np.column_stack([np.ones(len(b)), z_std])
        cov = np.linalg.pinv(X.T @ (X / (v + tau2)[:, None]), hermitian=True)
        slots = np.r_[
            layout.treatment.start + e,
            np.arange(layout.P)[layout.deviations][block.lambdas],
        ]
        units["coef_scale"][slots] = np.maximum(
            units["coef_scale"][slots], np.sqrt(np.diag(cov))
        )


def effective_variance(variance: np.ndarray, spread: float) -> float:
    """v_e with G / (spread + v_e) = sum_g 1 / (spread + v_g): given
    sigma_theta^2 = spread, the groups inform a and lambda as G groups of
    sampling variance v_e would. Equal v_g give v_e = v_g; where they differ
    the precise groups decide (the mean of 0.016 and 0.8 was 0.41, a's sd
    then grew less with sigma_theta than the meta-regression's, 2.3 against
    2.9 times from sigma_theta = 0.3 to 1.5; at tau = 0.44 v_e is 0.15)."""
    return max(len(variance) / np.sum(1 / (spread + variance)) - spread, 0.0)


def pooling_reference(variance: np.ndarray) -> float:
    """c = sqrt(median v_g) of pooling_scale: the resolution of an equation's
    groups, the pilot sampling sd of their estimates."""
    return float(np.sqrt(np.median(variance)))


def pooling_coordinate(log_ratio: float) -> float:
    """The sampled coordinate x of sigma_theta = c exp(h(x)), h(x) = x -
    log1p_exp(-x)^2 / 2, where log(sigma_theta / c) = ``log_ratio``."""
    d = float(np.clip(log_ratio, -200.0, 200.0))
    low, high = min(d, -np.sqrt(-2 * d) if d < 0 else 0.0) - 2, max(d, 0.0) + 2
    return float(brentq(lambda x: pooling_log_ratio(x) - d, low, high, xtol=1e-14))


def pooling_log_ratio(x: float) -> float:
    """h(x) = log(sigma_theta / c) at x."""
    return x - 0.5 * float(np.logaddexp(0.0, -x)) ** 2


def log_slope(x: float) -> float:
    """h'(x) = d log(sigma_theta) / dx: 1 + log1p_exp(-x) inv_logit(-x)."""
    return 1.0 + float(np.logaddexp(0.0, -x)) / (1.0 + float(np.exp(x)))


def coefficient_scale(
    data: dict[str, Any],
    layout: Layout,
    pilot: PilotStatistics | None,
    intercept: bool,
) -> tuple[dict[str, np.ndarray], float | None]:
    """The Stan data ``coef_loc`` and ``coef_scale`` (1 + K + E + L values: alpha,
    beta_std, a_centred and lambda_std as sampled) from the pilot fit, and the
    pilot's residual variance (1 where the weights are the Fisher information,
    None without a pilot); loc 0 and scale 1 where the pilot says nothing (and
    for every coefficient without a pilot, as when sampling from the priors).

    Parameters
    ----------
    data : dict
        The Stan data, with the treated-base data (``treated_shift``,
        ``x_treated_std``, ``lambda_control``) and ``z_group``.
    layout : Layout
    pilot : PilotStatistics or None
    intercept : bool
        The family has alpha (the ordinal family's cutpoints take its place).
    """
    n_fixed = layout.groups.start  # [1, W_fixed]: alpha, beta, a, lambda
    loc, scale = np.zeros(n_fixed), np.ones(n_fixed)
    if pilot is None:
        return {"coef_loc": loc, "coef_scale": scale}, None
    to_columns = interaction_columns(data, layout) @ sampled_to_fixed(
        data, layout, intercept
    )
    info = to_columns.T @ pilot.gram @ to_columns
    cross = to_columns.T @ pilot.cross
    estimate, inverse, residual = pilot_least_squares(pilot, info, cross)
    variance = residual * np.diag(inverse)
    known = np.isfinite(estimate) & np.isfinite(variance) & (variance > 0)
    loc[known] = estimate[known]
    scale[known] = np.sqrt(variance[known])
    return {"coef_loc": loc, "coef_scale": scale}, residual


def interaction_columns(data: dict[str, Any], layout: Layout) -> np.ndarray:
    """The map from [alpha, beta, a, lambda] to the pilot's columns
    [1, W_fixed, T.*1{g}]: the group effects at theta_g = a + zbar_g lambda
    (the standardised zbar of the program's z_group_std)."""
    n_fixed = layout.groups.start  # [1, W_fixed] come first
    out = np.zeros((layout.P, n_fixed))
    out[:n_fixed, :n_fixed] = np.eye(n_fixed)
    group_column = np.arange(layout.P)[layout.groups]
    treatment = np.arange(n_fixed)[layout.treatment]
    slope = np.arange(n_fixed)[layout.deviations]
    z_group = np.asarray(data["z_group"], dtype=float)
    z_mean = np.asarray(data["z_mean"], dtype=float)
    z_scale = np.asarray(data["z_scale"], dtype=float)
    for e, block in enumerate(layout.equations):
        if not block.has_groups:
            continue
        rows = group_column[block.thetas]
        out[rows, treatment[e]] = 1.0
        mean, sd = z_mean[block.lambdas], z_scale[block.lambdas]
        z_std = (z_group[block.thetas, block.lambdas] - mean) / sd
        out[np.ix_(rows, slope[block.lambdas])] = z_std
    return out


def sampled_to_fixed(
    data: dict[str, Any], layout: Layout, intercept: bool
) -> np.ndarray:
    """The linear map from the sampled coordinates to [alpha, beta, a, lambda]:
    a_centred = level - c_e (alpha + xbar_e beta), lambda_std = slope -
    lambda_control beta (``stan/common/functions.stan.j2``, a_offset and
    lambda_offset)."""
    K, E, L = layout.K, layout.E, layout.L
    out = np.eye(layout.groups.start)
    shift = np.asarray(data["treated_shift"], dtype=float)
    xbar = np.asarray(data["x_treated_std"], dtype=float).reshape(E, K)
    control = np.asarray(data["lambda_control"], dtype=float).reshape(L, K)
    a, slope = layout.treatment, layout.deviations
    if intercept:
        out[a, layout.intercept] = -shift[:, None]
    out[a, layout.control_columns] = -shift[:, None] * xbar
    out[slope, layout.control_columns] = -control
    return out
