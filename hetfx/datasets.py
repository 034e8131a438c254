"""Simulated experiments with known heterogeneous effects."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hetfx.design.grouping import format_value
from hetfx.downloads import Source, fetch
from hetfx.errors import DataError, OptionError

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


TOMZ_WEEKS_FORMULA = (
    "force ~ regime + stakes + costs + africa + eeurope + asia + age + educ4"
    " | alliance : dem + rep + high_newsint + white + male"
)
"""The paper's respondent-heterogeneity specification (fit with main_effects=False)."""


TOMZ_WEEKS_SOURCE = Source(
    name="tomz-weeks-2021",
    filename="2017-04-YouGov-extracted.dta",
    sha256="7f7c6268a16111055d5b6eb6b433550a69e9c92358c12b71fb361b8e4d91b643",
    citation=(
        "the replication archive of Tomz and Weeks (2021), 'Military Alliances "
        "and Public Support for War', International Studies Quarterly, on "
        "Harvard Dataverse"
    ),
    url_env="HETFX_TOMZ_WEEKS_URL",
)


def tomz_weeks(
    path: str | os.PathLike | None = None, *, url: str | None = None
) -> pd.DataFrame:
    """The Tomz and Weeks (2021) survey experiment, coded as in the paper.

    Michael Tomz and Jessica L. P. Weeks (2021), "Military Alliances and Public
    Support for War", International Studies Quarterly 65(3); replication data
    on Harvard Dataverse. The file ``2017-04-YouGov-extracted.dta`` is not
    shipped with hetfx: pass the path of a local copy, or let hetfx download it
    once into the cache folder (``url=`` or ``$HETFX_TOMZ_WEEKS_URL`` give the
    address of the file in the archive); the download is checked against the
    published file's SHA-256 and read from the cache afterwards.

    Raises
    ------
    DataError
        Offline, on a failed or altered download, or when no address is known;
        the message says where to get the file.

    Returns
    -------
    pandas.DataFrame
        ``force`` (pref >= 4), ``pref`` (1..5), the treatment ``alliance``, the
        modifiers ``dem``, ``rep``, ``high_newsint``, ``white``, ``male`` and the
        controls ``regime``, ``stakes``, ``costs``, ``africa``, ``asia``,
        ``eeurope``, ``age`` (decades) and ``educ4`` (1..4); plus ``region``.
    """
    if path is None:
        path = fetch(TOMZ_WEEKS_SOURCE, url)
    elif not Path(path).is_file():
        raise DataError(
            f"No file at {str(path)!r}. Get {TOMZ_WEEKS_SOURCE.filename} from "
            f"{TOMZ_WEEKS_SOURCE.citation}."
        )
    raw = pd.read_stata(path, convert_categoricals=False)
    return pd.DataFrame(
        {
            "force": (raw["pref"] >= 4).astype(int),
            "pref": raw["pref"].astype(int),
            "alliance": (raw["alliance"] == 2).astype(int),
            "dem": (raw["pid7"] <= 2).astype(int),
            "rep": raw["pid7"].isin([6, 7]).astype(int),
            "high_newsint": (raw["newsint"] == 1).astype(int),
            "white": (raw["race"] == 1).astype(int),
            "male": (raw["gender"] == 1).astype(int),
            "regime": (raw["regime"] == 2).astype(int),
            "stakes": (raw["stakes"] == 1).astype(int),
            "costs": (raw["costs"] == 2).astype(int),
            "region": raw["region"].astype(int),
            "africa": (raw["region"] == 1).astype(int),
            "asia": (raw["region"] == 2).astype(int),
            "eeurope": (raw["region"] == 3).astype(int),
            "age": (2016 - raw["birthyr"]) / 10,
            "educ4": raw["educ"].map({1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4}),
        }
    )


ROBUSTNESS_DESIGNS = ("one_binary", "rich8", "small64", "binned")


def robustness_design(
    name: str, family: str = "gaussian", seed: int = 1
) -> tuple[str, pd.DataFrame]:
    """A formula and data of the designs the sampler must handle at defaults.

    ``one_binary``: one binary modifier (2 groups, 1,200 units); ``rich8``:
    8 groups of about 125 treated units; ``small64``: 64 groups of about 10;
    ``binned``: a continuous modifier (age) in its default quantile bins, the
    effect linear in age with no group deviations. ``family`` is gaussian or
    bernoulli.
    """
    if name == "binned":
        rng = np.random.default_rng(seed)
        n = 1500
        age = rng.uniform(18, 80, n)
        x = rng.normal(size=n)
        treat = rng.binomial(1, 0.5, n)
        eta = 0.3 * x + treat * (0.2 + 0.01 * (age - 50))
        y = (
            eta + rng.normal(size=n)
            if family == "gaussian"
            else rng.binomial(1, 1 / (1 + np.exp(-eta)))
        )
        data = pd.DataFrame({"y": y, "x": x, "treat": treat, "age": age})
        return "y ~ x | treat : age", data
    sizes = {"one_binary": (1200, 1), "rich8": (2000, 3), "small64": (1300, 6)}
    if name not in sizes:
        raise OptionError(f"design must be one of {ROBUSTNESS_DESIGNS}, got {name!r}.")
    n, m = sizes[name]
    sim = simulate(n=n, n_modifiers=m, n_controls=1, family=family, seed=seed)
    return sim.formula, sim.data
