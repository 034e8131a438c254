"""Posterior predictive checks, PSIS-LOO and model comparison.

Pointwise log-likelihoods and replicated data are computed here in numpy from the
draws and the design, so the Stan output does not grow with N.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hetfx.errors import OptionError
from hetfx.results.posterior import Draws, training_predictor

if TYPE_CHECKING:
    import arviz as az

    from hetfx.results.fit import HetFit

MAX_LOGLIK_CELLS = 50_000_000


def _eta(fit: HetFit, d: Draws) -> np.ndarray:
    """eta of the training rows, (draws, rows); categorical models add a last
    axis, one linear predictor per non-reference category."""
    if fit.categories:
        etas = [
            training_predictor(d.category(k), fit.design)[0]
            for k in range(len(fit.categories))
        ]
        return np.stack(etas, axis=-1)
    return training_predictor(d, fit.design, fit.family_obj.exposure)[0]


def _observed(fit: HetFit) -> np.ndarray:
    """The outcome as the likelihood sees it (ordinal: category 1..K)."""
    fam = fit.family_obj
    y, _ = fam.prepare_outcome(fit.design.y, fit.formula, fit.design.extras)
    return y


def replicate(fit: HetFit, ndraws: int = 200, seed: int = 0) -> np.ndarray:
    """Replicated outcomes y_rep, shape (ndraws, N)."""
    d = Draws.from_idata(fit.idata, ndraws=ndraws, seed=seed)
    rng = np.random.default_rng(seed)
    return fit.family_obj.replicate(_eta(fit, d), d.extra, fit.design.extras, rng)


def ppc(
    fit: HetFit, ndraws: int = 200, prob: float = 0.9, seed: int = 0
) -> pd.DataFrame:
    """Observed statistics against their replicated distribution.

    Rows: the outcome's mean and sd, the treated and control means of each
    treatment, and the treated mean of every group. ``p_value`` is the posterior
    predictive P(T(y_rep) >= T(y)); values near 0 or 1 flag misfit.
    """
    design = fit.design
    y = _observed(fit)
    y_rep = replicate(fit, ndraws, seed)
    _keep(fit, posterior_predictive={"y": y_rep[None]}, observed_data={"y": y})
    stats_: list[tuple[str, np.ndarray]] = [("mean", np.ones(len(y), bool))]
    for eq in design.equations:
        stats_.append((f"{eq.label}: treated mean", eq.arm.treated))
        if eq.arm.kind == "binary":
            stats_.append((f"{eq.label}: control mean", eq.arm.values == 0))
        if eq.has_groups:
            for g, label in enumerate(eq.grouping.table["group"]):
                stats_.append((f"{eq.label} | {label}", eq.grouping.index == g))
    tail = (1 - prob) / 2
    rows = []
    sd_rep = y_rep.std(axis=1)
    rows.append(_row("sd", y.std(), sd_rep, tail))
    for name, mask in stats_:
        rows.append(_row(name, y[mask].mean(), y_rep[:, mask].mean(axis=1), tail))
    return pd.DataFrame(rows)


def _row(name: str, observed: float, rep: np.ndarray, tail: float) -> dict:
    lower, upper = np.quantile(rep, [tail, 1 - tail])
    return {
        "statistic": name,
        "observed": float(observed),
        "replicated": float(rep.mean()),
        "lower": float(lower),
        "upper": float(upper),
        "p_value": float((rep >= observed).mean()),
    }


def log_likelihood(fit: HetFit, thin: int = 1) -> np.ndarray:
    """Pointwise log-likelihood, shape (chain, draw, N), every ``thin``-th draw."""
    post = fit.idata.posterior.isel(draw=slice(None, None, thin))
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    d = Draws.from_idata(fit.idata.isel(draw=slice(None, None, thin)))
    eta = _eta(fit, d)
    y = _observed(fit)[None, :]
    ll = fit.family_obj.log_likelihood(y, eta, d.extra, fit.design.extras)
    return ll.reshape(chains, draws, -1)


def loo_data(fit: HetFit, thin: int | None = None) -> az.InferenceData:
    """An InferenceData with the pointwise log-likelihood, for arviz."""
    n_draws = fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"]
    if thin is None:
        thin = max(1, int(np.ceil(n_draws * fit.design.n / MAX_LOGLIK_CELLS)))
    ll = log_likelihood(fit, thin)
    if thin == 1:  # every draw: arviz's own loo and compare work on fit.idata
        _keep(fit, log_likelihood={"y": ll}, observed_data={"y": _observed(fit)})
        return fit.idata
    import arviz as az

    return az.from_dict(
        posterior={"a": fit.idata.posterior["a"].values[:, ::thin]},
        log_likelihood={"y": ll},
    )


def _keep(fit: HetFit, **groups: dict[str, np.ndarray]) -> None:
    """Add (or replace) groups of ``fit.idata``: y_rep as posterior_predictive,
    the pointwise log-likelihood as log_likelihood, y as observed_data; the
    observation dim is ``obs``."""
    import arviz as az

    dims = {"y": ["obs"]}
    fit.idata.extend(az.from_dict(**groups, dims=dims), join="right")


def loo(fit: HetFit, thin: int | None = None) -> az.ELPDData:
    """PSIS-LOO (arviz) from log-likelihoods computed in numpy.

    ``thin`` keeps every thin-th draw; by default draws are thinned only when
    draws x rows exceed 5e7.
    """
    import arviz as az

    return az.loo(loo_data(fit, thin), pointwise=True)


def compare(fits: dict[str, HetFit], **kwargs) -> pd.DataFrame:
    """Compare fits by PSIS-LOO (``arviz.compare``), e.g. groupings or priors.

    Examples
    --------
    >>> hetfx.compare({"5 modifiers": fit5, "3 modifiers": fit3})  # doctest: +SKIP
    """
    if not isinstance(fits, dict) or len(fits) < 2:
        raise OptionError("compare needs a dict of at least two fits.")
    n = {name: f.design.n for name, f in fits.items()}
    if len(set(n.values())) > 1:
        raise OptionError(f"Fits must use the same rows to be compared; rows: {n}.")
    import arviz as az

    return az.compare({name: loo_data(f) for name, f in fits.items()}, **kwargs)
