"""Bernoulli and binomial (logit link): repeated design rows are aggregated
exactly into binomial counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, OptionError
from .base import Family, check_counts


@dataclass(frozen=True)
class Binomial(Family):
    """y ~ Binomial(trials, inv_logit(eta)), trials from a data column."""

    name: str = "binomial"
    link: str = "logit"
    program: str = "binomial"

    @property
    def response_scale(self) -> str:
        return "probability of success per trial"

    def check_outcome(self, values, label, extras):
        check_counts(values, label, self.name)
        trials = extras[self.trials]
        check_counts(trials, self.trials, "binomial trials")
        over = values > trials
        if over.any():
            raise DataError(
                f"binomial outcome {label!r} exceeds its trials {self.trials!r} in "
                f"{int(over.sum())} rows (e.g. {values[over][0]:g} successes of "
                f"{trials[over][0]:g})."
            )

    def _trials(self, extras, n: int) -> np.ndarray:
        return extras[self.trials] if self.trials else np.ones(n)

    def stan_data(self, design, sc, summary, y, levels, aggregate):
        from ..standata import binomial_rows

        trials = self._trials(design.extras, design.n)
        data = {"y_shift": 0.0, **binomial_rows(design, sc, y, trials, aggregate)}
        return data, {}, {"aggregated_rows": data["N"]}

    def log_likelihood(self, y, eta, extra, extras):
        from scipy import stats

        n = self._trials(extras, y.shape[1])
        return stats.binom.logpmf(y, n[None, :], self.mean(eta))

    def replicate(self, eta, extra, extras, rng):
        n = self._trials(extras, eta.shape[1])
        return rng.binomial(n.astype(int)[None, :], self.mean(eta)).astype(float)


@dataclass(frozen=True)
class Bernoulli(Binomial):
    """y ~ Bernoulli(inv_logit(eta)): a binomial with one trial per row."""

    name: str = "bernoulli"

    @property
    def response_scale(self) -> str:
        return "probability points"

    def check_outcome(self, values, label, extras):
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            raise DataError(
                f"bernoulli outcome {label!r} must be 0/1 or bool; it has "
                f"{int(bad.sum())} other values such as {values[bad][0]:g}."
            )


bernoulli = Bernoulli()


def binomial(trials: str) -> Binomial:
    """Binomial (logit) with the number of trials in the data column ``trials``."""
    if not isinstance(trials, str) or not trials:
        raise OptionError("binomial needs trials=, the name of the trials column.")
    return Binomial(trials=trials)
