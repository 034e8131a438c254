"""Ordinal outcomes: the cumulative logit model, with cutpoints in place of
the intercept."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .base import Family, category_probs, level_codes, observed_levels


@dataclass(frozen=True)
class Ordinal(Family):
    """P(y <= k) = inv_logit(c_k - eta), k = 1..K-1."""

    name: str = "ordinal"
    link: str = "logit"
    program: str = "ordinal"
    params: tuple[str, ...] = ("cutpoints",)
    intercept: bool = False

    @property
    def link_scale(self) -> str:
        return "log-odds of a higher category (cumulative logit)"

    @property
    def response_scale(self) -> str:
        return "expected category (1..K)"

    def prepare_outcome(self, y, label, extras):
        """Categories coded 1..K in their order (a pandas Categorical's order, or
        sorted values)."""
        levels = observed_levels(y)
        if len(levels) < 3:
            raise DataError(
                f"ordinal outcome {label!r} has {len(levels)} levels; it needs at "
                "least 3 (use bernoulli for 2)."
            )
        return level_codes(y, levels), levels

    def stan_data(self, design, sc, summary, y, levels, aggregate):
        data, inits, info = super().stan_data(design, sc, summary, y, levels, aggregate)
        data["y"] = y.astype(int)
        data["n_cat"] = len(levels)
        return data, inits, {**info, "levels": list(levels)}

    def expected(self, eta, extra):
        """The expected category, sum_k k P(y = k)."""
        probs = category_probs(eta, extra["cutpoints"])
        return probs @ np.arange(1, probs.shape[-1] + 1)

    def log_likelihood(self, y, eta, extra, extras):
        probs = category_probs(eta, extra["cutpoints"])
        index = (y.astype(int) - 1)[..., None]
        return np.log(np.take_along_axis(probs, index, -1)[..., 0])

    def replicate(self, eta, extra, extras, rng):
        probs = category_probs(eta, extra["cutpoints"])
        u = rng.uniform(size=eta.shape + (1,))
        return 1.0 + (u > np.cumsum(probs, axis=-1)).sum(axis=-1).astype(float)


ordinal = Ordinal()
