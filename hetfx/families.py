"""Likelihood families: link, Stan program, outcome checks, response scale.

Each family is selected by name (``family="poisson"``) or by an object from this
module (``family=hetfx.families.poisson(exposure="days")``). Families that share a
likelihood structure share one compiled program (``program``), like rstanarm's
few precompiled models: bernoulli and binomial run ``binomial``; poisson and
negative binomial run ``count``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError, OptionError


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
    """

    name: str
    link: str
    program: str
    params: tuple[str, ...] = ()
    intercept: bool = True
    trials: str | None = None
    exposure: str | None = None
    reference: Any = None

    @property
    def variables(self) -> list[str]:
        """Data columns the family needs besides the formula's."""
        return [v for v in (self.trials, self.exposure) if v]

    def prepare_outcome(
        self, y: np.ndarray, label: str, extras: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, list[Any] | None]:
        """Validate the outcome; return it as the likelihood needs it, and the
        ordered levels for ordinal outcomes.

        Raises
        ------
        DataError
            Naming the outcome and what is wrong with it.
        """
        if self.name == "ordinal":
            return _ordinal_outcome(y, label)
        if self.name == "categorical":
            return _categorical_outcome(y, label, self.reference)
        values = _numeric(y, label, self.name)
        if self.name == "bernoulli":
            bad = ~np.isin(values, (0.0, 1.0))
            if bad.any():
                raise DataError(
                    f"bernoulli outcome {label!r} must be 0/1 or bool; it has "
                    f"{int(bad.sum())} other values such as {values[bad][0]:g}."
                )
        if self.name in ("binomial", "poisson", "negative_binomial"):
            _check_counts(values, label, self.name)
        if self.name == "binomial":
            trials = extras[self.trials]
            _check_counts(trials, self.trials, "binomial trials")
            over = values > trials
            if over.any():
                raise DataError(
                    f"binomial outcome {label!r} exceeds its trials {self.trials!r} in "
                    f"{int(over.sum())} rows (e.g. {values[over][0]:g} successes of "
                    f"{trials[over][0]:g})."
                )
        if self.exposure:
            exposure = extras[self.exposure]
            if np.any(exposure <= 0):
                raise DataError(f"exposure {self.exposure!r} must be positive.")
        if np.unique(values).size < 2:
            raise DataError(f"{self.name} outcome {label!r} takes only one value.")
        return values, None

    @property
    def link_scale(self) -> str:
        """What the link-scale tables measure, for table notes and axis labels."""
        if self.name == "ordinal":
            return "log-odds of a higher category (cumulative logit)"
        if self.name == "categorical":
            return "log-odds against the reference category"
        return {
            "identity": "outcome units",
            "logit": "log-odds (logit link)",
            "log": "log of the expected count (log link)",
        }[self.link]

    @property
    def response_scale(self) -> str:
        """What the response-scale effects measure."""
        if self.name == "bernoulli":
            return "probability points"
        if self.name == "binomial":
            return "probability of success per trial"
        if self.name == "ordinal":
            return "expected category (1..K)"
        if self.link == "log":
            return "expected count"
        return "outcome units"

    def outcome_scale(self, y: np.ndarray) -> float:
        """Scale of the outcome on the link scale, for autoscaled priors."""
        return float(np.std(y)) if self.link == "identity" else 1.0

    def mean(self, eta: np.ndarray) -> np.ndarray:
        """E[y | eta] (per trial for binomial; ordinal: see ``category_probs``)."""
        if self.link == "logit":
            from scipy.special import expit

            return expit(eta)
        if self.link == "log":
            return np.exp(eta)
        return eta


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


def _numeric(y: np.ndarray, label: str, family: str) -> np.ndarray:
    try:
        return np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{family} outcome {label!r} must be numeric.") from exc


def _check_counts(values: np.ndarray, label: str, what: str) -> None:
    if np.any(values < 0) or np.any(values != np.round(values)):
        bad = values[(values < 0) | (values != np.round(values))][0]
        raise DataError(
            f"{what} {label!r} must hold non-negative integer counts; found {bad:g}."
        )


def _ordinal_outcome(y: np.ndarray, label: str) -> tuple[np.ndarray, list[Any]]:
    series = pd.Series(y)
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = [lv for lv in series.cat.categories if (series == lv).any()]
    else:
        levels = sorted(pd.unique(series))
    if len(levels) < 3:
        raise DataError(
            f"ordinal outcome {label!r} has {len(levels)} levels; it needs at least "
            "3 (use bernoulli for 2)."
        )
    codes = {lv: i + 1 for i, lv in enumerate(levels)}
    return series.map(codes).to_numpy(dtype=float), list(levels)


def _categorical_outcome(
    y: np.ndarray, label: str, reference: Any
) -> tuple[np.ndarray, list[Any]]:
    series = pd.Series(y)
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = [lv for lv in series.cat.categories if (series == lv).any()]
    else:
        levels = sorted(pd.unique(series), key=lambda v: (str(type(v)), v))
    if len(levels) < 2:
        raise DataError(f"categorical outcome {label!r} takes only one value.")
    if reference is not None:
        match = [lv for lv in levels if lv == reference or str(lv) == str(reference)]
        if not match:
            raise DataError(
                f"Reference category {reference!r} of {label!r} is not in the data; "
                f"its categories are {levels[:10]}."
            )
        levels = [match[0]] + [lv for lv in levels if lv != match[0]]
    codes = {lv: i + 1 for i, lv in enumerate(levels)}
    return series.map(codes).to_numpy(dtype=float), list(levels)


gaussian = Family("gaussian", "identity", "gaussian", ("sigma",))
bernoulli = Family("bernoulli", "logit", "binomial")
student_t = Family("student_t", "identity", "student_t", ("sigma", "nu"))
ordinal = Family("ordinal", "logit", "ordinal", ("cutpoints",), intercept=False)


def categorical(reference: Any = None) -> Family:
    """Multinomial logit; ``reference`` is the baseline category (default: first)."""
    return Family("categorical", "logit", "categorical", reference=reference)


def binomial(trials: str) -> Family:
    """Binomial (logit) with the number of trials in the data column ``trials``."""
    if not isinstance(trials, str) or not trials:
        raise OptionError("binomial needs trials=, the name of the trials column.")
    return Family("binomial", "logit", "binomial", trials=trials)


def poisson(exposure: str | None = None) -> Family:
    """Poisson (log), with an optional exposure column (offset log(exposure))."""
    return Family("poisson", "log", "count", exposure=exposure)


def negative_binomial(exposure: str | None = None) -> Family:
    """Negative binomial NB2 (log) with shape phi: Var = mu + mu^2 / phi."""
    return Family("negative_binomial", "log", "count", ("phi",), exposure=exposure)


FAMILIES: dict[str, Any] = {
    "gaussian": gaussian,
    "bernoulli": bernoulli,
    "binomial": binomial,
    "poisson": poisson,
    "negative_binomial": negative_binomial,
    "student_t": student_t,
    "ordinal": ordinal,
    "categorical": categorical,
}
# the names brms and bambi use for the same families; nothing that only hints
# at one (a link such as "logit", or "binary"), which would be a silent guess
ALIASES = {
    "normal": "gaussian",
    "negbinomial": "negative_binomial",
    "negativebinomial": "negative_binomial",
    "student": "student_t",
    "t": "student_t",
    "cumulative": "ordinal",
}


def get_family(family: str | Family, **options: Any) -> Family:
    """Look a family up by name, or pass a :class:`Family` through.

    Examples
    --------
    >>> get_family("gaussian").link
    'identity'
    >>> get_family("binomial", trials="n").trials
    'n'
    """
    if isinstance(family, Family):
        return replace(family, **options) if options else family
    key = str(family).lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in FAMILIES:
        aliases = ", ".join(f"{a} ({n})" for a, n in ALIASES.items())
        raise OptionError(
            f"Unknown family {family!r}; available families: {', '.join(FAMILIES)}; "
            f"aliases: {aliases}."
        )
    entry = FAMILIES[key]
    if isinstance(entry, Family):
        return replace(entry, **options) if options else entry
    if key == "binomial" and "trials" not in options:
        raise OptionError(
            "The binomial family needs its trials column: "
            "family=hetfx.families.binomial(trials='n')."
        )
    return entry(**options)
