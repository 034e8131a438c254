"""The form in which each group effect is sampled, chosen by information.

A group effect the data pin down samples best centred (theta_g itself); one the
data say little about samples best non-centred, as
u_g = (theta_g - mu_g) / sigma_theta with mu_g = a + zbar_g lambda. In between,
the partially non-centred form u_g = (theta_g - w_g mu_g) / sigma_theta^w_g
interpolates (Papaspiliopoulos, Roberts and Skold 2003): for a gaussian group
mean with sampling variance v_g, w_g = v_g / (v_g + sigma_theta^2) makes u_g and
mu_g independent a posteriori given sigma_theta.

``parameterization="auto"`` takes v_g from a pilot no-pooling fit, IRLS from
the intercept-only model on the Stan data (``Family.pilot_steps`` steps at
most; :meth:`hetfx.families.Family.pilot_statistics`), and the method-of-moments
(DerSimonian-Laird) estimate tau^2 of the spread of the pilot estimates around
a weighted regression on [1, zbar_g]. The row-wise programs go one step
further and sample every group effect around its conditional posterior under a
gaussian likelihood with the pilot's estimate: theta_g = w_g mu_g + (1 - w_g)
(l_g - base_g) + (1 / sigma_theta^2 + 1 / v_g)^-1/2 u_g at the current
sigma_theta, with l_g the pilot's treated level and v_g the variance of its
estimate given the other coefficients (``stan/common/functions.stan.j2``,
group_effects_lp). Given sigma_theta the map is affine, so the change of
variables is exact; for a gaussian likelihood u_g is then N(0, 1) whatever
sigma_theta, which removes the funnel between them; the categorical program
does so for each non-reference category, with a pilot of that category
against the reference (:mod:`hetfx.program.category_units`). The weights and
variances are data, so one compiled program serves every choice;
``fit.info`` counts the groups that are mostly centred at tau (v_g < tau^2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from hetfx.errors import OptionError

if TYPE_CHECKING:
    from hetfx.design.layout import Layout
    from hetfx.families import Family
    from hetfx.families.pilot import PilotStatistics

# With this many residual degrees of freedom of the groups' regression on
# [1, zbar_g] the pilot's tau^2 is trusted (coefficient_scale), and
# sigma_theta's posterior is more than its prior (default_adapt_delta)
RELIABLE_DF = 10

# Default adapt_delta. The collapsed gaussian program samples sigma and
# sigma_theta alone: the half-normal tails of sigma_theta are steep on the log
# scale, and a smaller step costs little there (a gradient is one Cholesky
# factor of an F x F matrix). Where an equation's groups are mostly
# non-centred (w_g > 0.5 at tau) and too few to inform sigma_theta (fewer than
# RELIABLE_DF residual degrees of freedom: its posterior is much its prior's,
# with a wide upper tail where a and lambda meet a funnel), 0.95 as rstanarm
# uses for its hierarchical models: on the binned bernoulli design (4 groups)
# Stan's 0.8 left a few divergent transitions, 0.9 one or two in 3 of 15
# seeds, 0.95 none in 15. Elsewhere 0.8, including many small groups, whose
# sigma_theta reaching towards 0 the sampled coordinate of pooling_scale
# absorbs.
COLLAPSED_ADAPT_DELTA = 0.95
FUNNEL_ADAPT_DELTA = 0.95
ADAPT_DELTA = 0.8


def default_adapt_delta(collapsed: bool, data: dict[str, Any]) -> float:
    """The adapt_delta a fit uses unless given: see ``FUNNEL_ADAPT_DELTA``.

    Parameters
    ----------
    collapsed : bool
        The collapsed gaussian program runs.
    data : dict
        The Stan data (``noncentred``, ``group_eq``, ``deviations``, ``z_group``,
        ``lambda_eq``).
    """
    if collapsed:
        return COLLAPSED_ADAPT_DELTA
    group_eq = np.asarray(data["group_eq"], dtype=int) - 1
    lambda_eq = np.asarray(data["lambda_eq"], dtype=int) - 1
    z_group = np.asarray(data["z_group"], dtype=float).reshape(len(group_eq), -1)
    funnel = np.asarray(data["noncentred"]) > 0.5
    for e, deviates in enumerate(np.asarray(data["deviations"], dtype=bool)):
        groups = group_eq == e
        if not deviates or not np.any(funnel & groups):
            continue
        zbar = z_group[np.ix_(groups, lambda_eq == e)]
        if residual_df(zbar) < RELIABLE_DF:
            return FUNNEL_ADAPT_DELTA
    return ADAPT_DELTA


# eigenvalues of the pilot's gram matrix below this share of the largest are 0
PILOT_RCOND = 1e-10
# the variance given to a group estimate without information
NO_INFORMATION_VARIANCE = 1e6
NAMES = {
    "noncentred": "noncentred",
    "noncentered": "noncentred",
    "centred": "centred",
    "centered": "centred",
    "auto": "auto",
}


def check_parameterization(parameterization: str) -> str:
    """The canonical name, or an OptionError listing the choices."""
    key = str(parameterization).lower().replace("-", "").replace("_", "")
    if key not in NAMES:
        raise OptionError(
            "parameterization must be 'auto', 'noncentred' or 'centred', got "
            f"{parameterization!r}."
        )
    return NAMES[key]


def choose(
    parameterization: str,
    data: dict[str, Any],
    layout: Layout,
    pilot_groups: PilotGroups | None,
    conditional: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The Stan data ``noncentred`` and ``pilot_variance`` (one value per group)
    and a note for ``fit.info``.

    ``"noncentred"`` and ``"centred"`` fix w_g at 1 or 0 (``pilot_variance`` 0).
    ``"auto"`` gives every group with deviations its pilot variance v_g, so that
    the program uses w_g = v_g / (v_g + sigma_theta^2) at the current
    sigma_theta; the note counts the groups with w_g < 0.5 at the pilot tau.

    Parameters
    ----------
    parameterization : {"auto", "noncentred", "centred"}
    data : dict
        The Stan data.
    layout : Layout
    pilot_groups : PilotGroups or None
        The pilot's estimates of theta (:func:`pilot_group_estimates`); needed
        for ``"auto"`` with groups.
    conditional : bool
        The program samples each group effect around its conditional posterior
        (``stan/hetfx.stan.j2``): every group with deviations then gets the
        variance of its pilot estimate given the other coefficients; else its
        sampling variance.
    """
    G = layout.G
    weights = np.full(G, 0.0 if parameterization == "centred" else 1.0)
    variances = np.zeros(G)
    if parameterization != "auto" or G == 0:
        return weights, variances, {"parameterization": parameterization}
    estimate, variance = pilot_groups.estimate, pilot_groups.variance
    tau = []
    with_deviations = data.get("deviations", [1] * layout.E)
    for block, deviates in zip(layout.equations, with_deviations, strict=True):
        if not block.has_groups or not deviates:
            continue  # no deviations: theta_free is unused, non-centred
        rows = block.thetas
        zbar = np.asarray(data["z_group"])[rows, block.lambdas]
        tau2 = between_group_variance(estimate[rows], variance[rows], zbar)
        tau.append(float(np.sqrt(tau2)))
        weights[rows] = variance[rows] / (variance[rows] + tau2)
        variances[rows] = (
            pilot_groups.information_variance[rows] if conditional else variance[rows]
        )
    centred = int((weights < 0.5).sum())
    return (
        weights,
        variances,
        {
            "parameterization": "auto",
            "centred_groups": centred,
            "noncentred_groups": G - centred,
            "pilot_sigma_theta": tau,
        },
    )


def residual_df(zbar: np.ndarray) -> int:
    """Groups minus the columns of the regression on [1, zbar_g]."""
    X = np.column_stack([np.ones(len(zbar)), zbar])
    return len(zbar) - int(np.linalg.matrix_rank(X))


class PilotGroups(NamedTuple):
    """The pilot's no-pooling estimates of the group effects (length G each).

    ``estimate`` and ``variance``: theta_g and its sampling variance (for
    tau); ``information_variance``: the variance of theta_g given the other
    coefficients, one over the information of the group's treated rows (the
    residual variance over their summed weights); ``base``: the pilot's
    estimate of [alpha, beta_std], which fixes the group's treated level.
    """

    estimate: np.ndarray
    variance: np.ndarray
    information_variance: np.ndarray
    base: np.ndarray


def pilot_group_estimates(pilot: PilotStatistics, layout: Layout) -> PilotGroups:
    """No-pooling estimates of theta, their sampling variances and the
    variances given the other coefficients (:class:`PilotGroups`)."""
    coef, inverse, scale = pilot_least_squares(pilot, pilot.gram, pilot.cross)
    groups = layout.groups
    variance = scale * np.diag(inverse)[groups]
    information = np.diag(pilot.gram)[groups]
    # a group without information (zero weights) is sampled non-centred
    given_rest = np.full(len(information), NO_INFORMATION_VARIANCE)
    informed = information > 0
    given_rest[informed] = scale / information[informed]
    return PilotGroups(
        coef[groups],
        np.maximum(variance, 1e-12),
        np.maximum(given_rest, 1e-12),
        coef[: layout.treatment.start],
    )


def pilot_least_squares(
    pilot: PilotStatistics, gram: np.ndarray, cross: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """The pilot's weighted least squares on its statistics ``gram`` and
    ``cross`` (the pilot's own, or mapped to other coefficients): the estimate,
    the pseudo-inverse of ``gram`` and the residual variance (1 where the
    weights are the Fisher information)."""
    # columns that are zero in W (the T of an equation with groups) are zero up
    # to rounding in the partitioned statistics: one relative cut-off for both
    inverse = np.linalg.pinv(gram, rcond=PILOT_RCOND, hermitian=True)
    coef = inverse @ cross
    scale = 1.0
    if pilot.estimate_scale:
        values = np.linalg.eigvalsh(gram)
        rank = int((values > PILOT_RCOND * max(values.max(), 0.0)).sum())
        ssr = max(pilot.zwz - float(coef @ cross), 0.0)
        scale = ssr / max(pilot.n_units - rank, 1.0)
    return coef, inverse, scale


def between_group_variance(b: np.ndarray, v: np.ndarray, zbar: np.ndarray) -> float:
    """DerSimonian-Laird tau^2 of ``b`` (variances ``v``) around a weighted
    regression on [1, zbar]; 0 when there are no more groups than columns."""
    df = residual_df(zbar)
    if df <= 0:
        return 0.0
    X = np.column_stack([np.ones(len(b)), zbar])
    w = 1.0 / v
    XtWX_inv = np.linalg.pinv(X.T @ (w[:, None] * X))
    fitted = X @ (XtWX_inv @ (X.T @ (w * b)))
    q = float(np.sum(w * (b - fitted) ** 2))
    # trace of W - W X (X'WX)^-1 X'W, the DL denominator for meta-regression
    denom = float(w.sum() - np.trace(XtWX_inv @ (X.T @ ((w**2)[:, None] * X))))
    return max(0.0, (q - df) / denom) if denom > 0 else 0.0


def level_variance(data: dict[str, Any], family: Family) -> np.ndarray:
    """The pilot sampling variance of each varying-intercept level's b_j: the
    working response's variance over the level's IRLS information. The program
    centres b_j where it is small against sd_k^2 (data-rich levels), as for
    theta (0 without factors, and unused where the collapsed program
    integrates b out)."""
    n_levels = int(data["n_levels"])
    if n_levels == 0 or "level_index" not in data:
        return np.zeros(n_levels)
    w, z, _, estimate_scale = family.working_response(data)
    scale = 1.0
    if estimate_scale:
        mean = np.average(z, weights=w)
        scale = float(np.average((z - mean) ** 2, weights=w))
    info = np.zeros(n_levels)
    for index in np.asarray(data["level_index"]):
        np.add.at(info, index - 1, w)
    return np.where(info > 0, scale / np.maximum(info, 1e-12), 1e6)
