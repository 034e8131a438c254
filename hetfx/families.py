"""Likelihood families: name, link, outcome checks and default prior scales."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError, OptionError


@dataclass(frozen=True)
class Family:
    """A likelihood family.

    Attributes
    ----------
    name : str
        Also the name of its Stan template, ``stan/families/<name>.stan.j2``.
    link : str
    params : tuple of str
        The family's own prior slots (``("sigma",)`` for gaussian).
    """

    name: str
    link: str
    params: tuple[str, ...] = ()

    def check_outcome(self, y: np.ndarray, label: str) -> np.ndarray:
        """Validate the outcome and return it as the likelihood needs it."""
        if self.name == "bernoulli":
            bad = ~np.isin(y, (0.0, 1.0))
            if bad.any():
                raise DataError(
                    f"bernoulli outcome {label!r} must be 0/1 or bool; it has "
                    f"{int(bad.sum())} other values such as {y[bad][0]:g}."
                )
            if np.unique(y).size < 2:
                raise DataError(f"bernoulli outcome {label!r} takes only one value.")
            return y.astype(int)
        if np.ptp(y) == 0:
            raise DataError(f"Outcome {label!r} is constant.")
        return y

    def outcome_scale(self, y: np.ndarray) -> float:
        """Scale of the outcome on the link scale, for autoscaled priors."""
        return float(np.std(y)) if self.link == "identity" else 1.0


gaussian = Family("gaussian", "identity", ("sigma",))
bernoulli = Family("bernoulli", "logit")

FAMILIES: dict[str, Family] = {f.name: f for f in (gaussian, bernoulli)}


def get_family(family: str | Family) -> Family:
    """Look a family up by name, or pass a :class:`Family` through.

    Examples
    --------
    >>> get_family("gaussian").link
    'identity'
    """
    if isinstance(family, Family):
        return family
    key = str(family).lower().replace("-", "_")
    if key in ("normal",):
        key = "gaussian"
    if key in ("binary", "logit", "logistic"):
        key = "bernoulli"
    if key not in FAMILIES:
        raise OptionError(
            f"Unknown family {family!r}; available families: {', '.join(FAMILIES)}."
        )
    return FAMILIES[key]
