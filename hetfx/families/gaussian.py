"""Gaussian (identity link): the program sees only the sufficient statistics
W'W, W'y, y'y and N."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetfx.families.base import Family, ParameterPrior, centred_rows
from hetfx.families.units import log_sigma_units
from hetfx.priors import Exponential


@dataclass(frozen=True)
class Gaussian(Family):
    """y ~ N(eta, sigma)."""

    name: str = "gaussian"
    link: str = "identity"
    program: str = "gaussian"
    params: tuple[str, ...] = ("sigma",)

    def parameter_priors(self, outcome_sd, levels):
        return [ParameterPrior("sigma", ["sigma"], Exponential(), outcome_sd)]

    def stan_data(self, design, sc, summary, y, levels, aggregate, program=None):
        """Sufficient statistics; for ``gaussian_collapsed`` also the level
        sums of one varying-intercept factor, which it integrates out; rows for
        ``gaussian_rows`` (the default with varying intercepts)."""
        from hetfx.program.levels import level_data
        from hetfx.program.matrices import sufficient_statistics

        collapsed = program == "gaussian_collapsed"
        if design.factors and not collapsed:
            return centred_rows(self, design, sc, summary, y, levels, aggregate)
        data: dict[str, Any] = {"y_shift": summary.y_mean}
        if summary.gaussian is not None:  # summed partition by partition
            data.update(summary.gaussian)
            if collapsed:  # no factors there
                data.update(level_data(None, None, len(data["Wty"]) + 1))
        else:
            data.update(
                sufficient_statistics(design, sc, data["y_shift"], levels=collapsed)
            )
        if collapsed:  # log sigma at the outcome's sd, in units of (2 N)^-1/2
            n, yty = float(data["N"]), float(data["yty"])
            data["log_sigma_loc"] = 0.5 * np.log(yty / n) if yty > 0 and n > 0 else 0.0
            data["log_sigma_scale"] = 1 / np.sqrt(2 * max(n, 1.0))
            return data, {"log_sigma": float(np.log(summary.y_sd or 1.0))}, {}
        return data, {}, {}  # log sigma starts near the pilot's (parameter_units)

    def parameter_units(self, data, pilot, residual):
        """log sigma in the pilot's units (:func:`log_sigma_units`)."""
        return log_sigma_units(data, pilot.n_units if pilot else None, residual)

    def pilot_statistics(self, data, layout):
        """W'W, W'y and y'y are the sufficient statistics themselves."""
        from hetfx.families.pilot import PilotStatistics

        if "WtW" not in data:  # the row-wise program
            return super().pilot_statistics(data, layout)
        return PilotStatistics(
            np.asarray(data["WtW"]),
            np.asarray(data["Wty"]),
            float(data["yty"]),
            float(data["N"]),
            True,
        )

    def log_likelihood(self, y, eta, extra, extras):
        from scipy import stats

        return stats.norm.logpdf(y, eta, extra["sigma"][:, None])

    def replicate(self, eta, extra, extras, rng):
        return eta + extra["sigma"][:, None] * rng.standard_normal(eta.shape)


gaussian = Gaussian()
