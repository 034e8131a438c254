"""Student-t (identity link), robust to outlying outcomes."""

from __future__ import annotations

from dataclasses import dataclass

from hetfx.families.base import Family, ParameterPrior, centred_rows
from hetfx.families.units import student_t_units
from hetfx.priors import Exponential, Gamma


@dataclass(frozen=True)
class StudentT(Family):
    """y ~ Student-t(nu, eta, sigma)."""

    name: str = "student_t"
    link: str = "identity"
    program: str = "student_t"
    params: tuple[str, ...] = ("sigma", "nu")

    def parameter_priors(self, outcome_sd, levels):
        return [
            ParameterPrior("sigma", ["sigma"], Exponential(), outcome_sd),
            ParameterPrior("nu", ["nu"], Gamma(2, 0.1), 1.0),
        ]

    def stan_data(self, design, sc, summary, y, levels, aggregate, program=None):
        return centred_rows(self, design, sc, summary, y, levels, aggregate)

    def segment_likelihood(self, sums):
        return "weight" not in sums  # unweighted rows: one call per segment

    def parameter_units(self, data, pilot, residual):
        """log sigma and log(nu - 1) at the t fit of the pilot's residuals, in
        units of their sds (:func:`student_t_units`)."""
        return student_t_units(data, pilot, residual)

    def log_likelihood(self, y, eta, extra, extras):
        from scipy import stats

        nu, sigma = extra["nu"][:, None], extra["sigma"][:, None]
        return stats.t.logpdf(y, nu, eta, sigma)

    def replicate(self, eta, extra, extras, rng):
        t = rng.standard_t(extra["nu"][:, None], size=eta.shape)
        return eta + extra["sigma"][:, None] * t


student_t = StudentT()
