"""Bernoulli and binomial (logit link): rows that share eta are summed into
binomial counts (exact)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hetfx.errors import DataError, OptionError
from hetfx.families.base import Family, check_counts
from hetfx.families.pilot import IRLS_MAX_STEPS

# A bernoulli row's likelihood and gradient against a binomial row's (one exp and
# one log1p against two of each): 12.9 s against 19.9 s for the N = 5,000
# bernoulli benchmark (docs/performance.md). Merging repeated bernoulli rows
# into binomial counts pays only where it leaves fewer rows than this share.
BERNOULLI_ROW_COST = 0.65


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

    def segment_likelihood(self, sums):
        return "y" in sums  # unweighted: successes and trials per row

    def merging_pays(self, n, merged, sums):
        # rows of one trial each take bernoulli_logit_glm, whose row costs
        # about BERNOULLI_ROW_COST of a binomial row (stan/families/binomial)
        one_trial = "trials" in sums and bool(np.all(sums["trials"] == 1))
        return not one_trial or merged < BERNOULLI_ROW_COST * n

    def _trials(self, extras, n: int) -> np.ndarray:
        return extras[self.trials] if self.trials else np.ones(n)

    exact_aggregation = True

    def row_sums(self, design, y, levels):
        trials, weights = self._trials(design.extras, design.n), design.weights
        if weights is None:
            return {"y": y, "trials": trials}
        # sum_i w_i log p(y_i) = S log p + F log(1 - p) + const: S, F merge
        return {"success": weights * y, "failure": weights * (trials - y)}

    def outcome_data(self, sums, levels):
        if "success" in sums:
            return {
                "weighted": 1,
                "y": np.zeros(0, dtype=int),
                "trials": np.zeros(0, dtype=int),
                "success_weight": sums["success"],
                "failure_weight": sums["failure"],
            }
        return {
            "weighted": 0,
            "y": sums["y"].round().astype(int),
            "trials": sums["trials"].round().astype(int),
            "success_weight": np.zeros(0),
            "failure_weight": np.zeros(0),
        }

    # one step from the overall share weighs a group of shares near 0.9 as if
    # near the mean (half its variance), and its logit short of its own: the
    # sampler's conditional form for it then leans on sigma_theta
    pilot_steps = IRLS_MAX_STEPS

    def working_response(self, data, eta=None):
        if data["weighted"]:
            y = np.asarray(data["success_weight"], dtype=float)
            n = y + np.asarray(data["failure_weight"], dtype=float)
        else:
            y, n = (np.asarray(data[k], dtype=float) for k in ("y", "trials"))
        return binomial_working_response(y, n, eta)

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


def binomial_working_response(
    y: np.ndarray, trials: np.ndarray, eta: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """IRLS weights n p (1 - p) and working logits at p = inv_logit(eta), or
    at the overall share p where ``eta`` is None; p within [0.001, 0.999]."""
    from scipy.special import expit

    p = np.full_like(y, y.sum() / trials.sum()) if eta is None else expit(eta)
    p = np.clip(p, 1e-3, 1 - 1e-3)
    share = np.divide(y, trials, out=p.copy(), where=trials > 0)
    info = p * (1 - p)
    return trials * info, np.log(p / (1 - p)) + (share - p) / info, 0.0, False
