"""What every likelihood family provides, and the helpers they share.

A family owns everything that depends on the likelihood: its outcome checks,
its part of the Stan data, the numpy log-likelihood and random draws used by
posterior predictive checks and LOO, E[y] on the response scale, and the Stan
template it runs (``stan/families/<program>.stan.j2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, OptionError

if TYPE_CHECKING:
    from ..design import Design
    from ..standata import DesignSummary, Scaling


@dataclass(frozen=True)
class Family:
    """A likelihood family.

    Attributes
    ----------
    name : str
    link : {"identity", "logit", "log"}
    program : str
        The Stan template ``stan/families/<program>.stan.j2`` it runs.
    params : tuple of str
        The family's own prior slots (``("sigma",)`` for gaussian).
    intercept : bool
        Whether the outcome equation has an intercept alpha (not for ordinal,
        whose cutpoints take its place).
    trials, exposure : str, optional
        Data columns with binomial trials, or the exposure of counts.
    reference : object, optional
        The reference category of a categorical outcome.
    """

    name: str = ""
    link: str = "identity"
    program: str = ""
    params: tuple[str, ...] = ()
    intercept: bool = True
    trials: str | None = None
    exposure: str | None = None
    reference: Any = None

    @property
    def variables(self) -> list[str]:
        """Data columns the family needs besides the formula's."""
        return [v for v in (self.trials, self.exposure) if v]

    @property
    def link_scale(self) -> str:
        """What the link-scale tables measure, for table notes and axis labels."""
        return {
            "identity": "outcome units",
            "logit": "log-odds (logit link)",
            "log": "log of the expected count (log link)",
        }[self.link]

    @property
    def response_scale(self) -> str:
        """What the response-scale effects measure."""
        return "outcome units"

    # ------------------------------------------------------------ the outcome
    def prepare_outcome(
        self, y: np.ndarray, label: str, extras: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, list[Any] | None]:
        """Validate the outcome; return it as the likelihood needs it, and the
        ordered levels of ordinal and categorical outcomes.

        Raises
        ------
        DataError
            Naming the outcome and what is wrong with it.
        """
        values = numeric(y, label, self.name)
        self.check_outcome(values, label, extras)
        if self.exposure:
            exposure = extras[self.exposure]
            if np.any(exposure <= 0):
                raise DataError(f"exposure {self.exposure!r} must be positive.")
        if np.unique(values).size < 2:
            raise DataError(f"{self.name} outcome {label!r} takes only one value.")
        return values, None

    def check_outcome(
        self, values: np.ndarray, label: str, extras: dict[str, np.ndarray]
    ) -> None:
        """Family-specific checks of a numeric outcome (none by default)."""

    def outcome_scale(self, y: np.ndarray) -> float:
        """Scale of the outcome on the link scale, for autoscaled priors."""
        return float(np.std(y)) if self.link == "identity" else 1.0

    # ------------------------------------------------------------- Stan data
    def stan_data(
        self,
        design: Design,
        sc: Scaling,
        summary: DesignSummary,
        y: np.ndarray,
        levels: list[Any] | None,
        aggregate: bool,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The family's part of the Stan data, its initial values and notes for
        ``fit.info``. By default the rows' W (without its intercept column)."""
        from ..standata import design_matrix

        W = design_matrix(design, sc)[:, 1:]
        return {"y_shift": 0.0, "N": design.n, "W": W}, {}, {}

    # ------------------------------------------------- numpy, on the draws
    def mean(self, eta: np.ndarray) -> np.ndarray:
        """The inverse link: E[y | eta] (per trial for binomial)."""
        if self.link == "logit":
            from scipy.special import expit

            return expit(eta)
        if self.link == "log":
            return np.exp(eta)
        return eta

    def expected(self, eta: np.ndarray, extra: dict[str, np.ndarray]) -> np.ndarray:
        """E[y] at eta, shape (draws, rows); ``extra`` holds the family's draws."""
        return self.mean(eta)

    def log_likelihood(
        self,
        y: np.ndarray,
        eta: np.ndarray,
        extra: dict[str, np.ndarray],
        extras: dict[str, np.ndarray],
    ) -> np.ndarray:
        """Pointwise log-likelihood of ``y`` (1, rows) at eta (draws, rows)."""
        raise OptionError(f"The {self.name} family has no numpy log-likelihood yet.")

    def replicate(
        self,
        eta: np.ndarray,
        extra: dict[str, np.ndarray],
        extras: dict[str, np.ndarray],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Replicated outcomes at eta (draws, rows)."""
        raise OptionError(f"The {self.name} family has no numpy replicates yet.")


def numeric(y: np.ndarray, label: str, family: str) -> np.ndarray:
    """The outcome as floats, or a DataError naming it."""
    try:
        return np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{family} outcome {label!r} must be numeric.") from exc


def check_counts(values: np.ndarray, label: str, what: str) -> None:
    """Non-negative whole numbers, or a DataError naming the column."""
    if np.any(values < 0) or np.any(values != np.round(values)):
        bad = values[(values < 0) | (values != np.round(values))][0]
        raise DataError(
            f"{what} {label!r} must hold non-negative integer counts; found {bad:g}."
        )


def observed_levels(y: np.ndarray, key: Any = None) -> list[Any]:
    """The outcome's categories that occur: a pandas Categorical's in its
    order, else the values sorted (by ``key``)."""
    import pandas as pd

    series = pd.Series(y)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [lv for lv in series.cat.categories if (series == lv).any()]
    return sorted(pd.unique(series), key=key)


def level_codes(y: np.ndarray, levels: list[Any]) -> np.ndarray:
    """Each outcome's category as 1..K in the order of ``levels``."""
    import pandas as pd

    codes = {lv: i + 1 for i, lv in enumerate(levels)}
    return pd.Series(y).map(codes).to_numpy(dtype=float)


def category_probs(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """P(y = k) of the cumulative logit model, shape eta.shape + (K,).

    ``cutpoints`` has shape (S, K - 1) and eta shape (S, n).
    """
    from scipy.special import expit

    cum = expit(cutpoints[:, None, :] - eta[..., None])  # P(y <= k)
    ones = np.ones(eta.shape + (1,))
    zeros = np.zeros(eta.shape + (1,))
    upper = np.concatenate([cum, ones], axis=-1)
    lower = np.concatenate([zeros, cum], axis=-1)
    return upper - lower
