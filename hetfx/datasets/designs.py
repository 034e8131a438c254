"""Designs for tests and benchmarks: the sampler's robustness matrix and a
multi-site trial whose groups are sites with site-level predictors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hetfx.datasets.simulate import Simulation, simulate
from hetfx.errors import OptionError

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


def simulate_sites(
    n_sites: int = 40,
    units: tuple[int, int] = (10, 200),
    *,
    a: float = 0.3,
    lambda_: tuple[float, float] = (0.4, -0.3),
    sigma_theta: float = 0.25,
    site_sd: float = 0.5,
    sigma: float = 1.0,
    treat_prob: float = 0.5,
    seed: int | None = 0,
) -> Simulation:
    """A multi-site trial: each site's effect depends on two site predictors.

    Site s has between ``units[0]`` and ``units[1]`` units, predictors ``gdp``
    and ``ideology`` (standard normal, constant within the site), its own
    baseline (sd ``site_sd``) and effect ``theta_s = a + (gdp_s, ideology_s)
    lambda + sigma_theta u_s``; y = baseline_s + 0.5 x + treat theta_s + noise.
    The formula groups by site and controls for the sites' baselines:
    ``y ~ x + C(site) | treat : gdp + ideology ~ site`` (fit with
    ``main_effects=False``: the site dummies already hold the predictors' main
    effects).

    Examples
    --------
    >>> sim = simulate_sites(n_sites=5, seed=1)
    >>> sim.formula
    'y ~ x + C(site) | treat : gdp + ideology ~ site'
    >>> len(sim.effects)
    5
    """
    if n_sites < 3 or units[0] < 2 or units[1] < units[0]:
        raise OptionError(
            "simulate_sites needs n_sites >= 3 and 2 <= units[0] <= units[1]."
        )
    rng = np.random.default_rng(seed)
    sizes = rng.integers(units[0], units[1] + 1, n_sites)
    names = [f"s{s + 1:02d}" for s in range(n_sites)]
    predictors = np.round(rng.normal(size=(n_sites, 2)), 2)
    lam = np.asarray(lambda_, dtype=float)
    theta = a + predictors @ lam + sigma_theta * rng.normal(size=n_sites)
    baseline = site_sd * rng.normal(size=n_sites)
    site = np.repeat(np.arange(n_sites), sizes)
    n = int(sizes.sum())
    x = rng.normal(size=n)
    treat = rng.binomial(1, treat_prob, n)
    y = baseline[site] + 0.5 * x + treat * theta[site] + sigma * rng.normal(size=n)
    data = pd.DataFrame(
        {
            "y": y,
            "x": x,
            "treat": treat,
            "site": np.asarray(names)[site],
            "gdp": predictors[site, 0],
            "ideology": predictors[site, 1],
        }
    )
    treated = np.unique(site[treat == 1])
    effects = pd.DataFrame(
        {
            "treatment": "treat",
            "group": [f"site={names[s]}" for s in treated],
            "true_effect": theta[treated],
        }
    )
    return Simulation(
        data=data,
        formula="y ~ x + C(site) | treat : gdp + ideology ~ site",
        effects=effects,
        a=float(a),
        lambda_={"gdp": float(lam[0]), "ideology": float(lam[1])},
        sigma_theta=float(sigma_theta),
        ate=float(theta[site[treat == 1]].mean()),
        alpha=0.0,
        beta={"x": 0.5},
        sigma=float(sigma),
        family="gaussian",
    )


def simulate_conjoint(
    n_respondents: int = 500,
    n_tasks: int = 6,
    *,
    respondent_sd: float = 0.5,
    a: float = 0.3,
    lambda_: tuple[float, float, float] = (0.4, -0.3, 0.2),
    sigma_theta: float = 0.2,
    sigma: float = 1.0,
    seed: int | None = 0,
) -> Simulation:
    """A conjoint-style experiment: every respondent rates ``n_tasks`` profiles.

    Respondents carry three binary modifiers (8 groups) and an intercept
    b_r ~ N(0, ``respondent_sd``); each profile has an attribute ``x`` and the
    randomised attribute of interest ``treat``:
    y = b_r + 0.5 x + treat theta_g(r) + noise, theta_g = a + z_g lambda +
    sigma_theta u_g. Fit with ``y ~ x + (1 | respondent) | treat : z1 + z2 + z3``.

    Examples
    --------
    >>> sim = simulate_conjoint(n_respondents=20, n_tasks=3, seed=1)
    >>> sim.formula, len(sim.data)
    ('y ~ x + (1 | respondent) | treat : z1 + z2 + z3', 60)
    """
    rng = np.random.default_rng(seed)
    lam = np.asarray(lambda_, dtype=float)
    combos = np.array(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij"))
    combos = combos.reshape(3, -1).T
    theta = a + combos @ lam + sigma_theta * rng.normal(size=len(combos))
    z = rng.binomial(1, 0.5, size=(n_respondents, 3))
    group = z @ np.array([4, 2, 1])
    b = respondent_sd * rng.normal(size=n_respondents)
    who = np.repeat(np.arange(n_respondents), n_tasks)
    n = len(who)
    x = rng.normal(size=n)
    treat = rng.binomial(1, 0.5, n)
    y = b[who] + 0.5 * x + treat * theta[group[who]] + sigma * rng.normal(size=n)
    data = pd.DataFrame(
        {
            "y": y,
            "x": x,
            "treat": treat,
            "respondent": [f"r{r + 1:04d}" for r in who],
            **{f"z{j + 1}": z[who, j] for j in range(3)},
        }
    )
    treated = np.unique(group[who][treat == 1])
    labels = [", ".join(f"z{j + 1}={combos[g, j]}" for j in range(3)) for g in treated]
    effects = pd.DataFrame(
        {"treatment": "treat", "group": labels, "true_effect": theta[treated]}
    )
    return Simulation(
        data=data,
        formula="y ~ x + (1 | respondent) | treat : z1 + z2 + z3",
        effects=effects,
        a=float(a),
        lambda_={f"z{j + 1}": float(lam[j]) for j in range(3)},
        sigma_theta=float(sigma_theta),
        ate=float(theta[group[who]][treat == 1].mean()),
        alpha=0.0,
        beta={"x": 0.5},
        sigma=float(sigma),
        family="gaussian",
        intercept_sd={"respondent": float(respondent_sd)},
    )
