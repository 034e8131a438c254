"""Prior distributions, their defaults scaled to the data, and their Stan codes.

Location priors (``alpha``, ``beta``, ``a``, ``lambda``): :class:`Normal`,
:class:`StudentT`, :class:`Cauchy`, :class:`Flat`.
Scale priors (``sigma_theta``, ``sigma``, ``nu``, ``phi``): :class:`HalfNormal`,
:class:`HalfStudentT`, :class:`HalfCauchy`, :class:`Exponential`, :class:`Gamma`,
:class:`Flat`.

Examples
--------
>>> from hetfx.priors import Normal, HalfStudentT
>>> priors = {"lambda": Normal(0, 0.5), "sigma_theta": HalfStudentT(3, 0.2)}
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetfx.errors import PriorError


@dataclass(frozen=True)
class Prior:
    """Base class of all priors."""

    kind = "any"  # "location", "scale" or "any"
    code = 0

    def stan(self, size: int) -> dict[str, Any]:
        """Location, scale and df vectors of length ``size``."""
        loc, scale, df = self._numbers()
        return {
            "loc": np.full(size, loc, dtype=float),
            "scale": np.full(size, scale, dtype=float),
            "df": np.full(size, df, dtype=float),
        }

    def _numbers(self) -> tuple[float, float, float]:
        return 0.0, 1.0, 1.0

    def _check(self, **values: float) -> None:
        for name, value in values.items():
            if not isinstance(value, int | float | np.number) or isinstance(
                value, bool
            ):
                raise PriorError(
                    f"{type(self).__name__}: {name} must be a number, got {value!r}."
                )
            if not math.isfinite(value):
                raise PriorError(f"{type(self).__name__}: {name} must be finite.")
            if name in ("sigma", "nu", "rate") and value <= 0:
                raise PriorError(
                    f"{type(self).__name__}: {name} must be positive, got {value}."
                )


@dataclass(frozen=True)
class Flat(Prior):
    """An improper flat prior (use with care)."""

    kind = "any"
    code = 0

    def __str__(self) -> str:
        return "flat"


@dataclass(frozen=True)
class Normal(Prior):
    """Normal(mu, sigma)."""

    mu: float = 0.0
    sigma: float = 1.0
    kind = "location"
    code = 1

    def __post_init__(self) -> None:
        self._check(mu=self.mu, sigma=self.sigma)

    def _numbers(self) -> tuple[float, float, float]:
        return float(self.mu), float(self.sigma), 1.0

    def __str__(self) -> str:
        return f"normal({self.mu:.3g}, {self.sigma:.3g})"


@dataclass(frozen=True)
class StudentT(Prior):
    """Student-t(nu, mu, sigma)."""

    nu: float = 3.0
    mu: float = 0.0
    sigma: float = 1.0
    kind = "location"
    code = 2

    def __post_init__(self) -> None:
        self._check(nu=self.nu, mu=self.mu, sigma=self.sigma)

    def _numbers(self) -> tuple[float, float, float]:
        return float(self.mu), float(self.sigma), float(self.nu)

    def __str__(self) -> str:
        return f"student_t({self.nu:.3g}, {self.mu:.3g}, {self.sigma:.3g})"


def Cauchy(mu: float = 0.0, sigma: float = 1.0) -> StudentT:  # noqa: N802
    """Cauchy(mu, sigma), the Student-t with 1 degree of freedom."""
    return StudentT(1.0, mu, sigma)


@dataclass(frozen=True)
class HalfNormal(Prior):
    """Half-normal(sigma) on a positive parameter."""

    sigma: float = 1.0
    kind = "scale"
    code = 1

    def __post_init__(self) -> None:
        self._check(sigma=self.sigma)

    def _numbers(self) -> tuple[float, float, float]:
        return 0.0, float(self.sigma), 1.0

    def __str__(self) -> str:
        return f"half_normal({self.sigma:.3g})"


@dataclass(frozen=True)
class HalfStudentT(Prior):
    """Half-Student-t(nu, sigma) on a positive parameter."""

    nu: float = 3.0
    sigma: float = 1.0
    kind = "scale"
    code = 2

    def __post_init__(self) -> None:
        self._check(nu=self.nu, sigma=self.sigma)

    def _numbers(self) -> tuple[float, float, float]:
        return 0.0, float(self.sigma), float(self.nu)

    def __str__(self) -> str:
        return f"half_student_t({self.nu:.3g}, {self.sigma:.3g})"


def HalfCauchy(sigma: float = 1.0) -> HalfStudentT:  # noqa: N802
    """Half-Cauchy(sigma), the half-Student-t with 1 degree of freedom."""
    return HalfStudentT(1.0, sigma)


@dataclass(frozen=True)
class Exponential(Prior):
    """Exponential(rate) on a positive parameter (mean 1 / rate)."""

    rate: float = 1.0
    kind = "scale"
    code = 3

    def __post_init__(self) -> None:
        self._check(rate=self.rate)

    def _numbers(self) -> tuple[float, float, float]:
        return 0.0, 1.0 / float(self.rate), 1.0

    def __str__(self) -> str:
        return f"exponential({self.rate:.3g})"


@dataclass(frozen=True)
class Gamma(Prior):
    """Gamma(alpha, beta) on a positive parameter (shape alpha, rate beta)."""

    alpha: float = 2.0
    beta: float = 0.1
    kind = "scale"
    code = 4

    def __post_init__(self) -> None:
        self._check(alpha=self.alpha, beta=self.beta)
        if self.alpha <= 0 or self.beta <= 0:
            raise PriorError("Gamma: alpha and beta must be positive.")

    def _numbers(self) -> tuple[float, float, float]:
        return 0.0, 1.0 / float(self.beta), float(self.alpha)

    def __str__(self) -> str:
        return f"gamma({self.alpha:.3g}, {self.beta:.3g})"


# what each prior slot is, and what its prior applies to
SLOTS: dict[str, tuple[str, str]] = {
    "alpha": ("location", "outcome intercept, controls at their means"),
    "beta": ("location", "each control coefficient"),
    "a": (
        "location",
        "treatment effect at the treated units' mean modifiers "
        "(modifiers() row intercept_at_means; intercept is at modifiers = 0)",
    ),
    "lambda": ("location", "each modifier coefficient"),
    "sigma_theta": ("scale", "sd of the group effects around a + Z lambda"),
    "sigma": ("scale", "residual sd (gaussian) or scale (student-t)"),
    "nu": ("scale", "degrees of freedom (student-t)"),
    "phi": ("scale", "shape of the negative binomial: Var = mu + mu^2 / phi"),
    "cutpoints": ("location", "each ordinal cutpoint, controls at their means"),
}


def slot_of(key: str) -> tuple[str, str]:
    """(kind, what it applies to) of a prior key; ``sd_<factor>`` keys are the
    sds of the varying intercepts ``(1 | factor)``."""
    if key.startswith("sd_") and key not in SLOTS:
        return "scale", f"sd of the varying intercepts (1 | {key[3:]})"
    return SLOTS[key]


def validate_priors(priors: Any, valid: list[str]) -> dict[str, Prior]:
    """Check user priors: known keys, prior objects of the right kind.

    Raises
    ------
    PriorError
        Naming the key and listing the valid keys.
    """
    if priors is None:
        return {}
    if not isinstance(priors, dict):
        raise PriorError(
            f"priors must be a dict keyed by {valid}, got {type(priors).__name__}."
        )
    out: dict[str, Prior] = {}
    for key, prior in priors.items():
        if key not in valid:
            raise PriorError(
                f"Unknown prior key {key!r}; valid keys for this model are "
                f"{', '.join(valid)}."
            )
        if not isinstance(prior, Prior):
            raise PriorError(
                f"Prior {key!r} must be an object from hetfx.priors such as "
                f"Normal(0, 1), got {prior!r}. Valid keys: {', '.join(valid)}."
            )
        need = slot_of(key)[0]
        if prior.kind not in (need, "any"):
            options = (
                "Normal, StudentT or Cauchy"
                if need == "location"
                else "HalfNormal, HalfStudentT, HalfCauchy, Exponential or Gamma"
            )
            raise PriorError(
                f"Prior {key!r} is a {need} parameter and needs {options}; got {prior}."
            )
        out[key] = prior
    return out


PRIOR_NAMES = {
    "normal": Normal,
    "student_t": StudentT,
    "cauchy": Cauchy,
    "half_normal": HalfNormal,
    "half_student_t": HalfStudentT,
    "half_cauchy": HalfCauchy,
    "exponential": Exponential,
    "gamma": Gamma,
    "flat": Flat,
}


def parse_prior(text: str) -> Prior:
    """A prior from text such as ``"normal(0, 2.5)"`` (command line, job files).

    Names: normal, student_t, cauchy, half_normal, half_student_t, half_cauchy,
    exponential, gamma, flat; CamelCase (``HalfNormal(1)``) works too.

    Examples
    --------
    >>> parse_prior("half_normal(0.5)")
    HalfNormal(sigma=0.5)
    """
    match = re.fullmatch(r"\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*", str(text))
    if not match:
        raise PriorError(f"Cannot read the prior {text!r}; write e.g. normal(0, 1).")
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", match.group(1)).lower()
    if name not in PRIOR_NAMES:
        raise PriorError(
            f"Unknown prior {match.group(1)!r}; use one of {', '.join(PRIOR_NAMES)}."
        )
    args = [a for a in (match.group(2) or "").split(",") if a.strip()]
    try:
        return PRIOR_NAMES[name](*[float(a) for a in args])
    except (TypeError, ValueError) as exc:
        raise PriorError(f"Cannot read the prior {text!r}: {exc}") from exc


def parse_priors(items: dict[str, str] | list[str]) -> dict[str, Prior]:
    """Priors from ``{"sigma_theta": "half_normal(1)"}`` or ``["key=prior", ...]``."""
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            key, sep, value = str(item).partition("=")
            if not sep:
                raise PriorError(
                    f"Write priors as key=distribution, e.g. "
                    f"sigma_theta=half_normal(1); got {item!r}."
                )
            pairs.append((key.strip(), value))
    return {k: v if isinstance(v, Prior) else parse_prior(v) for k, v in pairs}
