"""Simulated experiments with known heterogeneous effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import OptionError
from .groups import format_value

FAMILIES = ("gaussian", "bernoulli")


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
    family : {"gaussian", "bernoulli"}
        Outcome y = alpha + x beta + treat * theta + noise, or its logit version.
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
    if family == "gaussian":
        y = eta + rng.normal(0, sigma, size=n)
    else:
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    data = pd.DataFrame(
        {"y": y, **dict(zip(x_names, X.T, strict=True)), "treat": treat}
    )
    for j, name in enumerate(z_names):
        data[name] = Z[:, j]
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
    )
