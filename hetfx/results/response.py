"""Effects on the response scale, computed per draw from the design.

For a binary treatment, the response-scale effect of a group is the average over
its treated units of E[y | T=1] - E[y | T=0], holding everything else at its
observed value. For a continuous treatment it is the average derivative
dE[y]/dT (per unit of T). Probability points for bernoulli and binomial (per
trial), counts for poisson and negative binomial (at each unit's exposure),
category probabilities for ordinal, and the link scale itself for gaussian and
student-t.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hetfx.errors import OptionError
from hetfx.families import category_probs
from hetfx.results.posterior import Draws, training_predictor

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

MAX_ARRAY_VALUES = 40_000_000  # draws x units held at once
SCALES = ("link", "response")


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise OptionError(f"scale must be 'link' or 'response', got {scale!r}.")
    return scale


def _thin(fit: HetFit, units: int) -> int:
    post = fit.idata.posterior
    total = post.sizes["chain"] * post.sizes["draw"]
    return max(1, int(np.ceil(total * units / MAX_ARRAY_VALUES)))


def _category_draws(d: Draws) -> list[Draws]:
    """One Draws per non-reference category (the trailing axis of each array)."""
    return [d.category(c) for c in range(d.a.shape[-1])]


def response_draws(fit: HetFit) -> tuple[np.ndarray, np.ndarray]:
    """Response-scale effects of the group rows and of each treatment's ATE.

    Returns arrays shaped (chain, draw, rows[, categories]) and
    (chain, draw, treatments[, categories]), rows in the order of ``effects()``.
    """
    if "response_draws" not in fit.derived:
        fit.derived["response_draws"] = _response_effects(fit, regression=False)
    return fit.derived["response_draws"]


def regression_draws(fit: HetFit, scale: str = "link") -> np.ndarray:
    """The regression prediction of every group row, (chain, draw, rows).

    On the link scale a_e + zbar_g lambda_e (zbar_g: the group's mean modifiers);
    on the response scale the response-scale effect with every unit's tau at
    a_e + Z_i lambda_e. Rows without groups (``treat : 1``) get NaN. For
    ordinal outcomes the response scale is the expected category.
    """
    if check_scale(scale) == "response":
        rows = _response_effects(fit, regression=True)[0]
        if rows.ndim == 4:
            rows = rows @ np.arange(1, rows.shape[-1] + 1)
        return rows
    post = fit.idata.posterior
    a, lam = np.asarray(post["a"].values), np.asarray(post["lambda"].values)
    rows = []
    design = fit.design
    for e, (eq, block) in enumerate(
        zip(design.equations, design.layout.equations, strict=True)
    ):
        if block.has_groups:
            pred = a[..., e, None] + lam[..., block.lambdas] @ eq.group_means().T
            rows += [pred[..., g] for g in range(eq.n_groups)]
        else:
            rows.append(np.full(a.shape[:2], np.nan))
    return np.stack(rows, axis=-1)


def weighted_ate(fit: HetFit, scale: str) -> np.ndarray:
    """Each treatment's ATE averaged with the survey weights of its treated
    units, (chain, draw, treatments): on the link scale
    sum_i w_i tau_i / sum_i w_i with tau_i = theta_g(i) + (Z_i - zbar_g) lambda."""
    design = fit.design
    fit.require_rows("ate(weighted=True)")
    if design.weights is None:
        raise OptionError("ate(weighted=True) needs a fit with weights=.")
    if scale == "response":
        return _response_effects(fit, regression=False, weighted=True)[1]
    a, lam = fit.draws("a"), fit.draws("lambda")
    theta = fit.draws("theta")
    out = []
    for e, (eq, block) in enumerate(
        zip(design.equations, design.layout.equations, strict=True)
    ):
        treated = eq.arm.treated
        w = design.weights[treated]
        share = w / w.sum()
        if block.has_groups:
            idx = eq.grouping.index[treated]
            by_group = np.bincount(idx, weights=share, minlength=eq.n_groups)
            deviation = share @ (eq.Z[treated] - eq.group_means()[idx])
            out.append(
                theta[..., block.thetas] @ by_group
                + lam[..., block.lambdas] @ deviation
            )
        else:
            out.append(a[..., e] + lam[..., block.lambdas] @ (share @ eq.Z[treated]))
    return np.stack(out, axis=-1)


def _response_effects(
    fit: HetFit, regression: bool, weighted: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Response-scale effects of the group rows and ATEs (see response_draws)."""
    design = fit.design
    fam = fit.family_obj
    fit.require_rows("scale='response'")
    thin = _thin(fit, design.n)
    idata = fit.idata.isel(draw=slice(None, None, thin))
    chains = idata.posterior.sizes["chain"]
    d = Draws.from_idata(idata)
    Ts = [eq.arm.values for eq in design.equations]
    idx = [eq.grouping.index for eq in design.equations]
    # one linear predictor per non-reference category (categorical), else one
    parts = _category_draws(d) if fit.categories else [d]
    etas, taus = [], []
    for part in parts:
        eta, tau = training_predictor(part, design, fam.exposure, regression)
        etas.append(eta)
        taus.append(tau)
    cut = None
    if fam.name == "ordinal":
        cut = np.asarray(idata.posterior["cutpoints"].values).reshape(d.size, -1)

    def mean(shift: float | list[np.ndarray]) -> np.ndarray:
        """E[y] (or category probabilities) with eta_c shifted by shift[c]."""
        moved = [eta + s for eta, s in zip(etas, shift, strict=True)]
        if fit.categories:
            stacked = np.stack([np.zeros_like(moved[0]), *moved], axis=-1)
            from scipy.special import softmax

            return softmax(stacked, axis=-1)
        if cut is not None:
            return category_probs(moved[0], cut)
        return fam.mean(moved[0])

    rows, ates = [], []
    for e, eq in enumerate(design.equations):
        treated = eq.arm.treated
        tau_e = [tau[e] for tau in taus]
        if eq.arm.kind == "continuous":  # average derivative dE[y]/dT
            eps = 1e-4
            up = mean([eps * t for t in tau_e])
            down = mean([-eps * t for t in tau_e])
            effect = (up - down) / (2 * eps)
        else:  # E[y | T=1] - E[y | T=0] on the treated units
            effect = mean([0.0] * len(etas)) - mean(
                [-Ts[e][None, :] * t for t in tau_e]
            )
        if eq.has_groups:
            for g in range(eq.n_groups):
                members = (idx[e] == g) & treated
                rows.append(effect[:, members].mean(axis=1))
        elif regression:  # no group deviations to leave out
            rows.append(np.full_like(effect[:, 0], np.nan))
        else:
            rows.append(effect[:, treated].mean(axis=1))
        if weighted:  # the survey weights of the treated units
            ates.append(
                np.average(effect[:, treated], axis=1, weights=design.weights[treated])
            )
        else:
            ates.append(effect[:, treated].mean(axis=1))

    def shape(parts: list[np.ndarray]) -> np.ndarray:
        stacked = np.stack(parts, axis=1)  # (S, rows[, K])
        return stacked.reshape(chains, -1, *stacked.shape[1:])

    return shape(rows), shape(ates)
