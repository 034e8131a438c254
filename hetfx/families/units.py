"""The sampler's origin and units for the families' own parameters.

As the coefficients (:mod:`hetfx.program.coefficient_scale`), a family's
parameters are sampled as (value - estimate) / sd on the scale the program
samples them: a positive parameter as its log, the ordinal cutpoints as the
first and the logs of the gaps (Stan's ordered transform, written out). The
estimates come from moments of the outcome or the pilot's residual; they need
only be of the right order, since the maps are affine and fixed by the data.
Without a pilot (sampling from the priors) every scale is 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetfx.families.pilot import pilot_fit

# a pilot fit far from the counts can leave phi's moment estimate anywhere: keep
# the origin sane
PHI_RANGE = (1e-2, 1e4)


def log_sigma_units(
    data: dict[str, Any], n_units: float | None, residual: float | None
) -> dict[str, float]:
    """``log_sigma_loc`` and ``log_sigma_scale``: log sigma at the pilot's
    residual sd in units of (2 n)^-1/2, the sd of log sigma for n gaussian
    units; at the outcome's sd in unit scale without a pilot."""
    if "yty" in data:  # sufficient statistics of y - y_shift
        variance = float(data["yty"]) / max(float(data["N"]), 1.0)
    else:  # rows of y - y_shift
        variance = float(np.mean(np.square(data["y"]))) if len(data["y"]) else 1.0
    if residual is None or not n_units or residual <= 0:
        return {
            "log_sigma_loc": 0.5 * np.log(max(variance, 1e-12)),
            "log_sigma_scale": 1.0,
        }
    return {
        "log_sigma_loc": 0.5 * np.log(residual),
        "log_sigma_scale": 1 / np.sqrt(2 * n_units),
    }


def moment_shape(y: np.ndarray, weight: np.ndarray, mean: Any) -> float:
    """The NB2 shape from the counts' moments around ``mean`` (a number or one
    per count), Var = m + m^2 / phi: phi = sum w m^2 / sum w ((y - m)^2 - m),
    m^2 / (v - m) for one mean m; within ``PHI_RANGE`` (its upper end where
    the counts spread no more than a Poisson's)."""
    mean = np.broadcast_to(np.asarray(mean, dtype=float), y.shape)
    excess = weight @ ((y - mean) ** 2 - mean)
    phi = weight @ mean**2 / excess if excess > 0 else PHI_RANGE[1]
    return float(np.clip(phi, *PHI_RANGE))


def log_phi_units(data: dict[str, Any], pilot: Any) -> dict[str, np.ndarray]:
    """``log_phi_loc`` and ``log_phi_scale`` of the NB2 shape: the method of
    moments phi = m^2 / (v - m) of the counts, and the sd of log phi from the
    observed information of NB2(m, phi) at it; unit scale without a pilot."""
    from scipy import stats

    if pilot is None:
        return {"log_phi_loc": np.zeros(1), "log_phi_scale": np.ones(1)}
    y = np.asarray(data["y"], dtype=float)
    weight = np.asarray(data.get("weight", []), dtype=float)
    weight = weight if weight.size else np.ones_like(y)
    mean = float(np.average(y, weights=weight))
    log_phi = float(np.log(moment_shape(y, weight, mean)))

    def loglik(value: float) -> float:
        shape = np.exp(value)
        return float(weight @ stats.nbinom.logpmf(y, shape, shape / (shape + mean)))

    h = 1e-3
    info = -(loglik(log_phi + h) - 2 * loglik(log_phi) + loglik(log_phi - h)) / h**2
    scale = 1 / np.sqrt(info) if np.isfinite(info) and info > 0 else 1.0
    return {"log_phi_loc": np.array([log_phi]), "log_phi_scale": np.array([scale])}


def cutpoint_units(data: dict[str, Any], pilot: Any) -> dict[str, np.ndarray]:
    """``cutpoint_loc`` and ``cutpoint_scale`` of the first cutpoint and the log
    gaps: c_k = logit F_k of the cumulative shares F_k, with the delta-method
    sds of the multinomial, Var(logit F_k) = 1 / (n F_k (1 - F_k)) and
    Cov(logit F_j, logit F_k) = 1 / (n (1 - F_j) F_k) for j < k; unit scales
    without a pilot."""
    counts = np.asarray(data["counts"], dtype=float)
    n_cut = counts.shape[1] - 1
    if pilot is None:
        return {"cutpoint_loc": np.zeros(n_cut), "cutpoint_scale": np.ones(n_cut)}
    n = counts.sum()
    share = np.clip(np.cumsum(counts.sum(axis=0))[:-1] / n, 1e-6, 1 - 1e-6)
    cut = np.log(share / (1 - share))
    variance = 1 / (n * share * (1 - share))
    loc, scale = cut.copy(), np.sqrt(variance)
    gap = np.diff(cut)
    gap_variance = variance[1:] + variance[:-1] - 2 / (n * (1 - share[:-1]) * share[1:])
    ok = (gap > 0) & (gap_variance > 0)  # else the unit scale
    gap, gap_variance = np.where(ok, gap, 1.0), np.where(ok, gap_variance, 1.0)
    loc[1:] = np.where(ok, np.log(gap), 0.0)
    scale[1:] = np.where(ok, np.sqrt(gap_variance) / gap, 1.0)
    return {"cutpoint_loc": loc, "cutpoint_scale": scale}


# the t fit's range of log(nu - 1): nu from 1.1 to 101, where the default
# gamma(2, 0.1) prior has nearly all its mass
LOG_NU_RANGE = (np.log(0.1), np.log(100.0))
T_FIT_ROWS = 50_000  # rows of the t fit (evenly spaced), its information scaled


def student_t_units(
    data: dict[str, Any], pilot: Any, residual: float | None
) -> dict[str, float]:
    """``log_sigma_loc``, ``log_sigma_scale``, ``log_nu_loc`` and
    ``log_nu_scale``: log sigma and log(nu - 1) at the maximum likelihood t fit
    of the pilot's residuals, in units of their sds from its observed
    information. Without a pilot, or where the fit fails, :func:`log_sigma_units`
    and log(nu - 1) in unit scale at 0."""
    units = {
        **log_sigma_units(data, pilot.n_units if pilot else None, residual),
        "log_nu_loc": 0.0,
        "log_nu_scale": 1.0,
    }
    if pilot is None or not len(data["y"]):
        return units
    weight = np.asarray(data.get("weight", []), dtype=float)
    residuals = pilot_residuals(data, pilot)
    fit = t_fit(residuals, weight if weight.size else np.ones_like(residuals))
    if fit is not None:
        (log_s, log_nu), (sd_s, sd_nu) = fit
        units.update(log_sigma_loc=log_s, log_sigma_scale=sd_s)
        units.update(log_nu_loc=log_nu, log_nu_scale=sd_nu)
    return units


def pilot_residuals(data: dict[str, Any], pilot: Any) -> np.ndarray:
    """The outcome minus the pilot's no-pooling fit, per row of the row-wise
    Stan data."""
    return np.asarray(data["y"], dtype=float) - pilot_fit(data, pilot)


def t_fit(
    residuals: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The weighted maximum likelihood (log s, log(nu - 1)) of t(nu, 0, s)
    residuals and their sds (the observed information's inverse); at most
    ``T_FIT_ROWS`` evenly spaced rows, their log likelihood scaled to all.
    The sd of log(nu - 1) is 1 where the fit rests on a bound of
    ``LOG_NU_RANGE``; None where the information is not positive definite."""
    from scipy import optimize
    from scipy.special import gammaln

    step = max(1, len(residuals) // T_FIT_ROWS)
    r, w = residuals[::step], weight[::step]
    factor = weight.sum() / max(w.sum(), 1e-300)
    spread = np.median(np.abs(r - np.median(r))) / 0.6745
    if not np.isfinite(spread) or spread <= 0:
        return None

    square = r**2
    total = w.sum()

    def loss(u: np.ndarray) -> float:  # minus log t(r | nu, 0, s), scaled to all
        log_s, nu = u[0], 1 + np.exp(u[1])
        constant = gammaln(0.5 * (nu + 1)) - gammaln(0.5 * nu) - 0.5 * np.log(nu)
        kernel = w @ np.log1p(square * np.exp(-2 * log_s) / nu)
        return -factor * (total * (constant - log_s) - 0.5 * (nu + 1) * kernel)

    start = np.array([np.log(spread), np.log(4.0)])
    best = optimize.minimize(
        loss, start, method="L-BFGS-B", bounds=[(None, None), LOG_NU_RANGE]
    )
    u = best.x
    h = 1e-3
    hessian = np.empty((2, 2))
    for i, j in ((0, 0), (0, 1), (1, 1)):
        di, dj = np.eye(2)[i] * h, np.eye(2)[j] * h
        hessian[i, j] = hessian[j, i] = (
            loss(u + di + dj)
            - loss(u + di - dj)
            - loss(u - di + dj)
            + loss(u - di - dj)
        ) / (4 * h * h)
    if not np.all(np.isfinite(hessian)) or np.any(np.linalg.eigvalsh(hessian) <= 0):
        return None
    sd = np.sqrt(np.diag(np.linalg.inv(hessian)))
    at_bound = np.min(np.abs(u[1] - np.array(LOG_NU_RANGE))) < 1e-6
    return u, np.array([sd[0], 1.0 if at_bound else min(sd[1], 1.0)])
