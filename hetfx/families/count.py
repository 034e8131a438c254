"""Poisson and negative binomial (log link), with an optional exposure column
(offset log(exposure)); one program, switched by data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetfx.families.base import Family, ParameterPrior, check_counts
from hetfx.families.pilot import IRLS_MAX_STEPS, pilot_fit, weighted_statistics
from hetfx.families.units import log_phi_units, moment_shape
from hetfx.priors import Gamma

# the pilot's log rates stay below this (exp overflows past 709)
LOG_RATE_MAX = 30.0


@dataclass(frozen=True)
class Poisson(Family):
    """y ~ Poisson(exp(eta) * exposure)."""

    name: str = "poisson"
    link: str = "log"
    program: str = "count"

    @property
    def response_scale(self) -> str:
        return "expected count"

    def parameter_units(self, data, pilot, residual):
        """No phi: the count program's log_phi data are empty."""
        return {"log_phi_loc": np.zeros(0), "log_phi_scale": np.zeros(0)}

    def check_outcome(self, values, label, extras):
        check_counts(values, label, self.name)

    exact_aggregation = True  # sum of Poissons with one rate: Poisson

    def exposures(self, design) -> np.ndarray:
        """Each unit's exposure (1 without an exposure column)."""
        exposure = design.extras[self.exposure] if self.exposure else None
        return np.ones(design.n) if exposure is None else exposure

    def row_sums(self, design, y, levels):
        exposure = self.exposures(design)
        weights = design.weights
        if weights is None:
            return {"y": y, "exposure": exposure}
        # sum_i w_i y_i and w_i exposure_i: rows still merge
        return {"count": weights * y, "exposure": weights * exposure}

    def segment_likelihood(self, sums):
        # unweighted rows (an exposure becomes a column of W with coefficient 1)
        return "weight" not in sums and "y" in sums

    def outcome_data(self, sums, levels):
        negbin = int("phi" in self.params)  # negative binomial
        n = len(sums["exposure"])
        empty = np.zeros(0)
        data = {
            "negbin": negbin,
            "weighted": int("count" in sums or "weight" in sums),
            "y": empty.astype(int),
            "log_exposure": np.log(sums["exposure"]),
            "weight": sums.get("weight", empty),
            "count_weight": empty,
            "exposure_weight": empty,
            "n_distinct_y": 0,
            "y_distinct": empty,
            "y_distinct_weight": empty,
        }
        if "count" in sums:  # weighted Poisson: the exposure is in the weights
            data["count_weight"] = sums["count"]
            data["exposure_weight"] = sums["exposure"]
            data["log_exposure"] = np.zeros(n)
        else:
            data["y"] = sums["y"].round().astype(int)
        if not data["negbin"]:  # the shared program reads a phi prior anyway
            data.update(
                {
                    "prior_dist_phi": 0,
                    "prior_scale_phi": np.ones(1),
                    "prior_df_phi": np.ones(1),
                }
            )
        return data

    # one step from the overall rate weighs every unit by the mean count; with
    # rates that vary e-fold or more, 3-5 steps bring each unit its own (and
    # the negative binomial's phi its moments around the counts' fit)
    pilot_steps = IRLS_MAX_STEPS

    def poisson_step(
        self, data: dict[str, Any], eta: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        """One Poisson IRLS step from the log rate ``eta`` (per row; None: the
        intercept-only model), per row: the counts y, the row weights w (the
        negative binomial's; else 1), the means mu and the working response."""
        if len(data["count_weight"]):
            y = np.asarray(data["count_weight"], dtype=float)
            exposure = np.asarray(data["exposure_weight"], dtype=float)
            exposure = np.where(exposure > 0, exposure, 1e-12)
        else:
            y = np.asarray(data["y"], dtype=float)
            exposure = np.exp(np.asarray(data["log_exposure"], dtype=float))
        weight = np.asarray(data["weight"], dtype=float)
        weight = weight if weight.size else np.ones_like(y)
        if eta is None:
            rate = np.full_like(y, weight @ y / (weight @ exposure))
        else:
            rate = np.exp(np.minimum(eta, LOG_RATE_MAX))
        rate = np.maximum(rate, 1e-6)  # a group without counts stops there
        mu = rate * exposure
        return y, weight, mu, np.log(rate) + (y - mu) / mu

    def working_response(self, data, eta=None):
        _, weight, mu, z = self.poisson_step(data, eta)
        return weight * mu, z, 0.0, False

    def log_likelihood(self, y, eta, extra, extras):
        from scipy import stats

        return stats.poisson.logpmf(y, np.exp(eta))

    def replicate(self, eta, extra, extras, rng):
        return rng.poisson(np.exp(eta)).astype(float)


#: Cost of a merged (weighted) negative binomial row in GLM rows: 1.7-1.8 in
#: benchmarks/bench_aggregation.py (N = 5,000 and 20,000: 2,123 merged rows
#: 14.9 s against 20.8 s unmerged; 3,691 rows 23.3 s against 69.3 s).
MERGED_ROW_COST = 1.8


@dataclass(frozen=True)
class NegativeBinomial(Poisson):
    """NB2: y ~ NegBinomial(mu = exp(eta) * exposure, phi), Var = mu + mu^2 / phi."""

    name: str = "negative_binomial"
    params: tuple[str, ...] = ("phi",)

    # rows repeating the design, the count and the exposure merge into one
    # row weighted by their number (the sum of NB2 counts does not carry phi
    # alone, so rows with other counts stay apart)
    exact_aggregation = True
    aggregation_keys = ("y", "exposure")

    def row_sums(self, design, y, levels):
        weights = design.weights
        return {
            "y": y,
            "exposure": self.exposures(design),
            "weight": np.ones(design.n) if weights is None else weights,
        }

    def pilot_statistics(self, data, layout):
        """The Poisson's IRLS, then one step from its fit with NB2 weights: a
        unit informs eta mu phi / (mu + phi), phi estimated from the counts'
        moments around the Poisson fit (:func:`moment_shape`)."""
        eta = pilot_fit(data, super().pilot_statistics(data, layout))
        y, weight, mu, z = self.poisson_step(data, eta)
        phi = moment_shape(y, weight, mu)
        return weighted_statistics(
            data, layout, weight * mu * phi / (mu + phi), z, 0.0, False
        )

    def merging_pays(self, n, merged, sums):
        # merged rows take the weighted likelihood, written out vectorised:
        # about MERGED_ROW_COST of a GLM row (benchmarks/bench_aggregation.py)
        return merged < n / MERGED_ROW_COST

    def segment_likelihood(self, sums):
        return "y" in sums and bool(np.all(sums["weight"] == 1))

    def outcome_data(self, sums, levels):
        if np.all(sums["weight"] == 1):  # one unit a row, no survey weights
            sums = {k: v for k, v in sums.items() if k != "weight"}
            return super().outcome_data(sums, levels)
        data = super().outcome_data(sums, levels)
        # lgamma(y + phi) once per distinct count, with its rows' summed weight
        values, index = np.unique(data["y"], return_inverse=True)
        data["n_distinct_y"] = len(values)
        data["y_distinct"] = values.astype(float)
        data["y_distinct_weight"] = np.bincount(index.ravel(), weights=sums["weight"])
        return data

    def parameter_priors(self, outcome_sd, levels):
        return [ParameterPrior("phi", ["phi"], Gamma(2, 0.1), 1.0)]

    def parameter_units(self, data, pilot, residual):
        """log phi in the pilot's units (:func:`log_phi_units`)."""
        return log_phi_units(data, pilot)

    def log_likelihood(self, y, eta, extra, extras):
        from scipy import stats

        phi = extra["phi"].reshape(-1, 1)
        return stats.nbinom.logpmf(y, phi, phi / (phi + np.exp(eta)))

    def replicate(self, eta, extra, extras, rng):
        phi = extra["phi"].reshape(-1, 1)
        mu = np.exp(eta)
        return rng.negative_binomial(phi, phi / (phi + mu)).astype(float)


def poisson(exposure: str | None = None) -> Poisson:
    """Poisson (log), with an optional exposure column (offset log(exposure))."""
    return Poisson(exposure=exposure)


def negative_binomial(exposure: str | None = None) -> NegativeBinomial:
    """Negative binomial NB2 (log) with shape phi: Var = mu + mu^2 / phi."""
    return NegativeBinomial(exposure=exposure)
