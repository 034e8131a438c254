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

from hetfx.errors import DataError, OptionError
from hetfx.families.pilot import (
    PILOT_TOLERANCE,
    PilotStatistics,
    pilot_fit,
    weighted_statistics,
)

if TYPE_CHECKING:
    from hetfx.design.build import Design
    from hetfx.program.standata import DesignSummary, Scaling


@dataclass(frozen=True)
class ParameterPrior:
    """A family parameter's default prior: its key, the labels of its
    elements, the prior, and the scale that multiplies the prior's numbers."""

    key: str
    labels: list[str]
    prior: Any
    scale: float


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
    #: The likelihood of rows that share eta equals that of their sums (up to a
    #: constant), so repeated rows may be merged (:func:`hetfx.program.rows.aggregate`).
    exact_aggregation = False
    #: :meth:`row_sums` entries that rows must share to merge (kept, not summed)
    aggregation_keys = ()
    #: Fewest rows the runs must average for the rows to go by segment
    #: (:func:`hetfx.program.rows.by_segment`); None: ``SEGMENT_MIN_ROWS``.
    segment_min_rows = None

    def parameter_priors(
        self, outcome_sd: float, levels: list[Any] | None
    ) -> list[ParameterPrior]:
        """Default priors of the family's own parameters (``params``), with the
        scale they are multiplied by (the outcome's sd where it has units)."""
        return []

    def stan_data(
        self,
        design: Design,
        sc: Scaling,
        summary: DesignSummary,
        y: np.ndarray,
        levels: list[Any] | None,
        aggregate: bool,
        program: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The family's part of the Stan data, its initial values and notes for
        ``fit.info``: by default the row-wise design and the outcome's
        :meth:`row_sums` turned into data by :meth:`outcome_data`. ``program``
        names the Stan program that will read them where a family has several
        (the gaussian's); None is the family's default for the design."""
        from hetfx.program.rows import SEGMENT_MIN_ROWS, by_segment, row_data
        from hetfx.program.rows import aggregate as merge_rows

        rows = row_data(design, sc)
        sums = self.row_sums(design, y, levels)
        if aggregate and self.exact_aggregation:
            merged_rows, merged_sums = merge_rows(rows, sums, self.aggregation_keys)
            if self.merging_pays(rows.n, merged_rows.n, sums):
                rows, sums = merged_rows, merged_sums
        if self.segment_likelihood(sums):
            rows, sums = by_segment(
                rows, sums, self.segment_min_rows or SEGMENT_MIN_ROWS
            )
        data = {"y_shift": 0.0, **rows.stan_data(), **self.outcome_data(sums, levels)}
        info: dict[str, Any] = {"aggregated_rows": rows.n}
        if rows.segment_start is not None:
            info["segments"] = len(rows.segment_start) - 1
        if levels is not None:
            info["levels"] = list(levels)
        return data, {}, info

    def merging_pays(self, n: int, merged: int, sums: dict[str, np.ndarray]) -> bool:
        """Whether the likelihood of ``merged`` distinct rows costs less than
        that of the ``n`` rows ``sums`` describes: always, by default."""
        return True

    def segment_likelihood(self, sums: dict[str, np.ndarray]) -> bool:
        """Whether the program may take these rows by segment (runs of rows
        sharing their intercept, one GLM call each): where the family's
        template has that path and the rows fit it. None by default."""
        return False

    def row_sums(
        self, design: Design, y: np.ndarray, levels: list[Any] | None
    ) -> dict[str, np.ndarray]:
        """Per-row quantities of the likelihood, summed when rows are merged:
        the outcome, or for categorical outcomes (``levels``) its count in each
        category (the sum of the units' survey weights when weighted); the
        weights themselves for families whose rows are not merged."""
        weights = design.weights
        if levels is not None:
            counts = category_counts(y, len(levels))
            return {"counts": counts if weights is None else counts * weights[:, None]}
        if weights is not None:
            return {"y": y, "weight": weights}
        return {"y": y}

    def outcome_data(
        self, sums: dict[str, np.ndarray], levels: list[Any] | None
    ) -> dict[str, Any]:
        """The Stan data of the outcome, from (possibly summed) :meth:`row_sums`."""
        weighted = "weight" in sums
        return {
            "y": sums["y"],
            "weighted": int(weighted),
            "weight": sums["weight"] if weighted else np.zeros(0),
        }

    #: Most IRLS steps of the pilot from the intercept-only model: one where the
    #: working response is the outcome itself; more for the logit and log links
    pilot_steps = 1

    def working_response(
        self, data: dict[str, Any], eta: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """Weights and working response of one IRLS step from the linear
        predictor ``eta`` (per row; None: the intercept-only model), per row of
        the Stan data; the sum of squares within merged rows; whether the scale
        is unknown. By default the outcome itself."""
        y = np.asarray(data["y"], dtype=float)
        weights = np.asarray(data.get("weight", []), dtype=float)
        return (weights if weights.size else np.ones_like(y)), y, 0.0, True

    def pilot_statistics(self, data: dict[str, Any], layout: Any) -> PilotStatistics:
        """The :class:`PilotStatistics` of the row-wise Stan data, in chunks,
        after at most ``pilot_steps`` IRLS steps: fewer where the fit moves
        less than ``PILOT_TOLERANCE`` anywhere."""
        statistics = weighted_statistics(data, layout, *self.working_response(data))
        eta = None
        for _ in range(1, self.pilot_steps):
            fit = pilot_fit(data, statistics)
            if eta is not None and np.max(np.abs(fit - eta)) < PILOT_TOLERANCE:
                break
            eta = fit
            step = self.working_response(data, eta)
            statistics = weighted_statistics(data, layout, *step)
        return statistics

    def parameter_units(
        self,
        data: dict[str, Any],
        pilot: PilotStatistics | None,
        residual: float | None,
    ) -> dict[str, Any]:
        """The Stan data placing the family's own parameters in the pilot's
        units: the estimate and sd of each on the scale the program samples it
        (:mod:`hetfx.program.coefficient_scale`). ``residual`` is the pilot's
        residual variance; ``pilot`` is None when sampling from the priors
        (unit scales). None by default: the family has no parameters."""
        return {}

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


def one_unit_rows(counts: np.ndarray) -> bool:
    """Whether every row of category ``counts`` is one unweighted unit (a
    count of 1 in one category)."""
    counts = np.asarray(counts)
    return bool(np.all((counts == 0) | (counts == 1)) and np.all(counts.sum(1) == 1))


def centred_rows(
    family: Family,
    design: Design,
    sc: Scaling,
    summary: DesignSummary,
    y: np.ndarray,
    levels: list[Any] | None,
    aggregate: bool,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Row-wise Stan data of an identity-link outcome, y centred at its mean
    (student-t, and the gaussian with varying intercepts)."""
    data, _, info = Family.stan_data(family, design, sc, summary, y, levels, aggregate)
    data["y_shift"] = summary.y_mean
    data["y"] = data["y"] - data["y_shift"]
    return data, {}, info  # log sigma starts near the pilot's (parameter_units)


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


def category_counts(y: np.ndarray, n_levels: int) -> np.ndarray:
    """One row per unit, one column per category 1..K: the unit's count."""
    counts = np.zeros((len(y), n_levels))
    counts[np.arange(len(y)), np.asarray(y, dtype=int) - 1] = 1.0
    return counts


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
