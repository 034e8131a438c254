"""Simulated experiments whose effects vary by binary modifiers, every family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.grouping import format_value
from hetfx.errors import OptionError

FAMILIES = (
    "gaussian",
    "bernoulli",
    "binomial",
    "poisson",
    "negative_binomial",
    "student_t",
    "ordinal",
    "categorical",
)
# the columns the families' options name, as simulate writes them
FAMILY_OPTIONS = {
    "binomial": {"trials": "trials"},
    "poisson": {"exposure": "exposure"},
    "negative_binomial": {"exposure": "exposure"},
}


@dataclass
class Simulation:
    """A simulated experiment and its true parameters.

    Attributes
    ----------
    data : pandas.DataFrame
        Outcome ``y``, controls ``x1..xK``, treatment ``treat``, modifiers
        ``z1..zM`` (0/1).
    formula : str
        The formula that matches the simulation.
    effects : pandas.DataFrame
        ``treatment``, ``group`` (hetfx's labels) and ``true_effect`` (theta_g).
    a, sigma_theta, ate, alpha : float
    lambda_ : dict
        True modifier coefficients by column name.
    beta : dict
        True control coefficients.
    sigma : float
        Outcome noise sd (gaussian).
    intercept_sd : dict, optional
        True sds of the varying intercepts, by factor.
    """

    data: pd.DataFrame
    formula: str
    effects: pd.DataFrame
    a: float
    lambda_: dict[str, float]
    sigma_theta: float
    ate: float
    alpha: float
    beta: dict[str, float]
    sigma: float
    family: str
    cutpoints: list[float] | None = None
    by_category: dict[str, dict[str, Any]] | None = None
    intercept_sd: dict[str, float] | None = None

    @property
    def family_object(self):
        """The hetfx family to fit the simulation with (trials, exposure set)."""
        from hetfx.families import get_family

        return get_family(self.family, **FAMILY_OPTIONS.get(self.family, {}))


def simulate(
    n: int = 2000,
    n_modifiers: int = 4,
    n_controls: int = 2,
    *,
    family: str = "gaussian",
    a: float = 0.2,
    lambda_: float | list[float] = 0.3,
    sigma_theta: float = 0.3,
    alpha: float = 0.0,
    sigma: float = 1.0,
    treat_prob: float = 0.5,
    seed: int | None = 0,
    nu: float = 4.0,
    phi: float = 5.0,
    cutpoints: tuple[float, ...] = (-1.5, -0.5, 0.5, 1.5),
) -> Simulation:
    """Simulate a randomised experiment whose effect varies by binary modifiers.

    Each unit has controls ``x`` ~ N(0, 1), modifiers ``z`` ~ Bernoulli(0.5), and is
    treated with probability ``treat_prob``. The group of a unit is its modifier
    combination (2**n_modifiers groups), with effect
    ``theta_g = a + z_g . lambda + sigma_theta * u_g``, ``u_g ~ N(0, 1)``.

    Parameters
    ----------
    n : int
        Number of units.
    n_modifiers, n_controls : int
    family : str
        ``gaussian`` (y = eta + N(0, sigma)), ``student_t`` (t noise with ``nu``
        df), ``bernoulli`` and ``binomial`` (logit; ``trials`` column),
        ``poisson`` and ``negative_binomial`` (log; ``exposure`` column, NB2
        shape ``phi``) or ``ordinal`` (cumulative logit with ``cutpoints``).
    a, lambda_, sigma_theta, alpha, sigma : float
        True parameters; ``lambda_`` may be one value per modifier.
    seed : int, optional

    Examples
    --------
    >>> sim = simulate(n=400, n_modifiers=2, seed=1)
    >>> sim.formula
    'y ~ x1 + x2 | treat : z1 + z2'
    >>> len(sim.effects)
    4
    """
    if family not in FAMILIES:
        raise OptionError(f"family must be one of {FAMILIES}, got {family!r}.")
    if n_modifiers < 1 or n < 10:
        raise OptionError("simulate needs n >= 10 and n_modifiers >= 1.")
    rng = np.random.default_rng(seed)
    lam = np.broadcast_to(np.asarray(lambda_, dtype=float), (n_modifiers,)).copy()
    z_names = [f"z{j + 1}" for j in range(n_modifiers)]
    x_names = [f"x{k + 1}" for k in range(n_controls)]
    Z = rng.binomial(1, 0.5, size=(n, n_modifiers))
    X = rng.normal(size=(n, n_controls))
    beta = np.round(rng.normal(0, 0.5, size=n_controls), 2)
    treat = rng.binomial(1, treat_prob, size=n)
    # group effects for every modifier combination, in hetfx's label order
    combos = (
        np.array(np.meshgrid(*[[0, 1]] * n_modifiers, indexing="ij"))
        .reshape(n_modifiers, -1)
        .T
    )
    u = rng.normal(size=len(combos))
    theta_cell = a + combos @ lam + sigma_theta * u
    cell = Z @ (2 ** np.arange(n_modifiers)[::-1])
    eta = alpha + X @ beta + treat * theta_cell[cell]
    theta_c = eta_c = None
    if family == "categorical":  # category C's effects (B's are theta_cell)
        theta_c = -a - combos @ lam / 2 + sigma_theta * rng.normal(size=len(combos))
        eta_c = alpha / 2 + X @ beta / 2 + treat * theta_c[cell]
    y, extra = _draw_outcome(family, eta, rng, sigma, nu, phi, cutpoints, eta_c)
    data = pd.DataFrame(
        {"y": y, **dict(zip(x_names, X.T, strict=True)), "treat": treat}
    )
    for j, name in enumerate(z_names):
        data[name] = Z[:, j]
    for name, values in extra.items():
        data[name] = values
    treated_cells = np.unique(cell[treat == 1])
    labels = [
        ", ".join(
            f"{m}={format_value(v)}" for m, v in zip(z_names, combos[c], strict=True)
        )
        for c in treated_cells
    ]
    effects = pd.DataFrame(
        {
            "treatment": "treat",
            "group": labels,
            "true_effect": theta_cell[treated_cells],
        }
    )
    by_category = None
    if family == "categorical":
        effects = pd.concat(
            [
                effects.assign(category="B"),
                effects.assign(category="C", true_effect=theta_c[treated_cells]),
            ],
            ignore_index=True,
        )
        treated = cell[treat == 1]
        by_category = {
            "B": _truth(a, lam, theta_cell[treated].mean(), z_names),
            "C": _truth(-a, -lam / 2, theta_c[treated].mean(), z_names),
        }
    controls = " + ".join(x_names) if x_names else "1"
    return Simulation(
        data=data,
        formula=f"y ~ {controls} | treat : {' + '.join(z_names)}",
        effects=effects,
        a=float(a),
        lambda_=dict(zip(z_names, lam.tolist(), strict=True)),
        sigma_theta=float(sigma_theta),
        ate=float(theta_cell[cell[treat == 1]].mean()),
        alpha=float(alpha),
        beta=dict(zip(x_names, beta.tolist(), strict=True)),
        sigma=float(sigma),
        family=family,
        cutpoints=list(cutpoints) if family == "ordinal" else None,
        by_category=by_category,
    )


def _draw_outcome(
    family: str,
    eta: np.ndarray,
    rng: np.random.Generator,
    sigma: float,
    nu: float,
    phi: float,
    cutpoints: tuple[float, ...],
    eta_c: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """y given the linear predictor, and the family's extra columns."""
    n = len(eta)
    extra: dict[str, np.ndarray] = {}
    if family == "gaussian":
        y = eta + rng.normal(0, sigma, size=n)
    elif family == "student_t":
        y = eta + sigma * rng.standard_t(nu, size=n)
    elif family == "bernoulli":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "binomial":
        extra["trials"] = 1 + rng.poisson(9, size=n)
        y = rng.binomial(extra["trials"], 1 / (1 + np.exp(-eta))).astype(float)
    elif family in ("poisson", "negative_binomial"):
        extra["exposure"] = rng.uniform(0.5, 2.0, size=n)
        mu = extra["exposure"] * np.exp(eta)
        if family == "poisson":
            y = rng.poisson(mu).astype(float)
        else:
            y = rng.negative_binomial(phi, phi / (phi + mu)).astype(float)
    elif family == "ordinal":  # latent logistic, categories 1..len(cutpoints) + 1
        latent = eta + rng.logistic(size=n)
        y = 1.0 + (latent[:, None] > np.asarray(cutpoints)[None, :]).sum(axis=1)
    else:  # categorical: A (reference), B (eta), C (eta_c)
        logits = np.column_stack([np.zeros(n), eta, eta_c])
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        y = np.array(["A", "B", "C"])[
            (rng.uniform(size=(n, 1)) > probs.cumsum(axis=1)).sum(axis=1)
        ]
    return y, extra


def _truth(a: float, lam: np.ndarray, ate: float, z_names: list[str]) -> dict:
    """One category's true a, lambda and ATE."""
    return {
        "a": float(a),
        "lambda": dict(zip(z_names, lam.tolist(), strict=True)),
        "ate": float(ate),
    }
