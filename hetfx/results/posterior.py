"""Unit-level quantities from the draws: tau, the linear predictor, y_rep, log-lik.

Everything here is numpy on the draws and the design, so the Stan output does not
grow with N (the gaussian program sees only sufficient statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hetfx.design.build import Design
from hetfx.design.factors import NEW_LEVEL, Factor, level_offsets
from hetfx.design.grouping import NO_GROUP

if TYPE_CHECKING:
    import arviz as az


@dataclass
class Draws:
    """Posterior draws flattened over chains: shape (S, ...)."""

    alpha: np.ndarray
    beta: np.ndarray
    a: np.ndarray
    lam: np.ndarray
    theta: np.ndarray
    sigma_theta: np.ndarray
    extra: dict[str, np.ndarray]
    b: np.ndarray | None = None  # varying intercepts, (S, levels)
    sd_factor: np.ndarray | None = None  # their sds, (S, factors)

    @property
    def size(self) -> int:
        return int(self.alpha.shape[0])

    def category(self, k: int) -> Draws:
        """The draws of the ``k``-th non-reference category (categorical models,
        whose parameters carry a last axis of categories)."""
        return Draws(
            self.alpha[..., k],
            self.beta[..., k],
            self.a[..., k],
            self.lam[..., k],
            self.theta[..., k],
            self.sigma_theta[..., k],
            self.extra,
            None if self.b is None else self.b[..., k],
            None if self.sd_factor is None else self.sd_factor[..., k],
        )

    def take(self, rows: slice | np.ndarray) -> Draws:
        """These draws at ``rows`` (a slice or indices of the draws)."""

        def at(x: np.ndarray | None) -> np.ndarray | None:
            return None if x is None else x[rows]

        return Draws(
            self.alpha[rows],
            self.beta[rows],
            self.a[rows],
            self.lam[rows],
            self.theta[rows],
            self.sigma_theta[rows],
            {k: v[rows] for k, v in self.extra.items()},
            at(self.b),
            at(self.sd_factor),
        )

    @classmethod
    def from_idata(
        cls, idata: az.InferenceData, ndraws: int | None = None, seed: int = 0
    ) -> Draws:
        """Flatten the posterior; keep ``ndraws`` draws at random when given."""
        post = idata.posterior

        def flat(name: str) -> np.ndarray:
            values = np.asarray(post[name].values)
            return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

        names = ["beta", "a", "lambda", "theta", "sigma_theta", "b", "sd_factor"]
        arrays = {n: flat(n) for n in names if n in post}
        # ordinal models have no intercept: the cutpoints take its place
        arrays["alpha"] = (
            flat("alpha") if "alpha" in post else np.zeros(len(arrays["a"]))
        )
        extra = {n: flat(n) for n in ("sigma", "nu", "phi", "cutpoints") if n in post}
        total = arrays["alpha"].shape[0]
        # a block without columns (no controls) may be left out of the posterior;
        # a's trailing axes are the categories of a categorical model
        for name in ("beta", "lambda"):
            arrays.setdefault(name, np.zeros((total, 0, *arrays["a"].shape[2:])))
        if ndraws is not None and ndraws < total:
            keep = np.sort(
                np.random.default_rng(seed).choice(total, ndraws, replace=False)
            )
            arrays = {k: v[keep] for k, v in arrays.items()}
            extra = {k: v[keep] for k, v in extra.items()}
        return cls(
            arrays["alpha"],
            arrays["beta"],
            arrays["a"],
            arrays["lambda"],
            arrays["theta"],
            arrays["sigma_theta"],
            extra,
            arrays.get("b"),
            arrays.get("sd_factor"),
        )


def unit_effects(
    draws: Draws,
    design: Design,
    Zs: list[np.ndarray],
    groups: list[np.ndarray],
    rng: np.random.Generator | None,
) -> list[np.ndarray]:
    """tau_e,i for every equation and unit: shape (S, n) each.

    A unit whose modifier combination was never seen gets
    ``a + Z lambda + sigma_theta * u`` with a fresh u ~ N(0, 1) per draw, shared
    by the units of the same unseen combination. With ``rng=None`` (the training
    rows, where the units without a group are untreated: T = 0) they get
    ``a + Z lambda`` and no draw.
    """
    out = []
    for e, (eq, block) in enumerate(
        zip(design.equations, design.layout.equations, strict=True)
    ):
        Z, idx = Zs[e], groups[e]
        lam = draws.lam[:, block.lambdas]
        tau = draws.a[:, e, None] + lam @ Z.T
        if eq.has_groups:
            seen = idx != NO_GROUP
            # theta_g + (Z_i - zbar_g) lambda: a, lambda enter through theta
            zbar = eq.group_means()
            tau[:, seen] = (
                draws.theta[:, block.theta_start + idx[seen]]
                + lam @ (Z[seen] - zbar[idx[seen]]).T
            )
            unseen = ~seen
            if rng is not None and unseen.any():
                keys = [tuple(row) for row in Z[unseen]]
                uniq = {k: i for i, k in enumerate(dict.fromkeys(keys))}
                u = rng.standard_normal((draws.size, len(uniq)))
                cols = np.array([uniq[k] for k in keys])
                tau[:, unseen] += draws.sigma_theta[:, e, None] * u[:, cols]
        out.append(tau)
    return out


def linear_predictor(
    draws: Draws, X: np.ndarray, Ts: list[np.ndarray], taus: list[np.ndarray]
) -> np.ndarray:
    """eta = alpha + X beta + sum_e T_e tau_e, shape (S, n)."""
    eta = draws.alpha[:, None] + draws.beta @ X.T
    for t, tau in zip(Ts, taus, strict=True):
        eta = eta + t[None, :] * tau
    return eta


def level_effects(
    draws: Draws,
    factors: list[Factor],
    indices: list[np.ndarray],
    rng: np.random.Generator | None,
    labels: list[list[str]] | None = None,
) -> np.ndarray:
    """sum_k b_k[level] of every row, (S, n). A level not seen in training
    (index ``NEW_LEVEL``) gets a fresh draw sd_k * u, shared by the rows of the
    same new level (``labels``), when ``rng`` is given, else 0."""
    n = len(indices[0]) if indices else 0
    out = np.zeros((draws.size, n))
    offsets = level_offsets(factors)
    for k, (index, start) in enumerate(zip(indices, offsets, strict=True)):
        seen = index != NEW_LEVEL
        out[:, seen] += draws.b[:, start + index[seen]]
        if rng is not None and (~seen).any():
            names = np.asarray(labels[k])[~seen]
            unique, which = np.unique(names, return_inverse=True)
            u = rng.standard_normal((draws.size, len(unique)))
            out[:, ~seen] += draws.sd_factor[:, k, None] * u[:, which]
    return out


def training_predictor(
    draws: Draws,
    design: Design,
    exposure: str | None = None,
    regression: bool = False,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The linear predictor of the training rows (with the log exposure offset
    of count families) and the unit effects tau of every equation.

    ``regression=True`` leaves the group deviations out: tau = a + Z lambda,
    the prediction that partial pooling pulls each group towards.
    """
    Zs = [eq.Z for eq in design.equations]
    groups = [
        np.full(design.n, NO_GROUP) if regression else eq.grouping.index
        for eq in design.equations
    ]
    taus = unit_effects(draws, design, Zs, groups, None)
    Ts = [eq.arm.values for eq in design.equations]
    eta = linear_predictor(draws, design.X, Ts, taus)
    if design.factors:
        indices = [f.index for f in design.factors]
        eta = eta + level_effects(draws, design.factors, indices, None)
    if exposure:
        eta = eta + np.log(design.extras[exposure])[None, :]
    return eta, taus
