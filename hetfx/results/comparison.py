"""Hierarchical against OLS group effects, on one scale, with the shrinkage.

OLS is a linear model of the outcome, so for non-identity links the hierarchical
effects are compared on the response scale (probability points for bernoulli,
expected counts, the expected category of an ordinal outcome), never as log-odds
beside a linear probability model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hetfx.errors import OptionError
from hetfx.families import Family
from hetfx.results.response import check_scale, regression_draws

if TYPE_CHECKING:
    from hetfx.results.fit import HetFit

# an OLS estimate closer than this many standard errors to the regression
# prediction leaves the shrinkage share undefined
ON_PREDICTION_SE = 0.05


def comparison_scale(family: Family, scale: str | None = None) -> str:
    """The link scale for identity-link families, else the response scale.

    Raises
    ------
    OptionError
        For ``scale="link"`` with a non-identity link.
    """
    identity = family.link == "identity"
    if scale is None:
        return "link" if identity else "response"
    if check_scale(scale) == "link" and not identity:
        raise OptionError(
            f"The OLS baseline is linear in the outcome, so it cannot be put on "
            f"the {family.link_scale} scale of a {family.name} fit; compare on "
            f"scale='response' ({family.response_scale})."
        )
    return scale


def scale_name(family: Family, scale: str = "link") -> str:
    """What the tables on ``scale`` measure, e.g. ``"log-odds (logit link)"``."""
    if check_scale(scale) == "link":
        return family.link_scale
    return family.response_scale


def shrinkage(
    mean: pd.Series, ols: pd.Series, prediction: pd.Series, ols_se: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """The share of the OLS estimate's distance from the prediction that partial
    pooling removes, clipped to [0, 1], and whether it was clipped.

        shrinkage = 1 - (mean - prediction) / (ols - prediction)

    NaN where the OLS estimate sits on the prediction (within ``ON_PREDICTION_SE``
    of its standard error).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 1 - (mean - prediction) / (ols - prediction)
    on_prediction = (ols - prediction).abs() <= ON_PREDICTION_SE * ols_se.fillna(0)
    share = share.where(~on_prediction & np.isfinite(share))
    return share.clip(0, 1), share.notna() & ((share < 0) | (share > 1))


def compare_ols(
    fit: HetFit, prob: float = 0.9, scale: str | None = None, baseline: str = "cells"
) -> pd.DataFrame:
    """Hierarchical against OLS group effects, one row per group, on one scale.

    Both columns are on ``scale``: by default the link scale for gaussian and
    student-t fits, the response scale for the others; the ``scale`` column says
    which. ``prediction`` is the posterior mean of the regression prediction
    a + zbar_g lambda that partial pooling pulls the group towards, and
    ``shrinkage`` (see :func:`shrinkage`) the share of the way the group moves:
    0 no pooling, 1 complete pooling; ``shrinkage_clipped`` flags values that
    lay outside [0, 1]. ``baseline`` is that of :meth:`HetFit.ols`.
    """
    scale = comparison_scale(fit.family_obj, scale)
    eff = fit.group_effects(prob, scale)
    ols = fit.ols(prob, baseline)
    out = eff[["treatment", "group", "n_treated", "n"]].copy()
    out["scale"] = f"{scale}: {scale_name(fit.family_obj, scale)}"
    for col in ("mean", "lower", "upper"):
        out[col] = eff[col].to_numpy()
    for col in ("mean", "lower", "upper"):
        out["ols" if col == "mean" else f"ols_{col}"] = ols[col].to_numpy()
    out["ols_se"] = ols["sd"].to_numpy()
    pred = regression_draws(fit, scale)
    out["prediction"] = pred.reshape(-1, pred.shape[-1]).mean(axis=0)
    out["shrinkage"], out["shrinkage_clipped"] = shrinkage(
        out["mean"], out["ols"], out["prediction"], out["ols_se"]
    )
    out["same_sign"] = np.sign(out["mean"]) == np.sign(out["ols"])
    out["baseline"] = baseline
    return out
