"""When the gaussian model runs with its linear coefficients integrated out.

Given sigma and sigma_theta, alpha, beta, a, lambda and theta are jointly
gaussian a posteriori when their priors are normal (or flat): the program
``stan/gaussian_collapsed.stan.j2`` samples only the scales on their exact
marginal posterior and draws the coefficients from their conditional normal.
Student-t or Cauchy priors on a coefficient break that, and the gaussian
program samples every parameter instead. One varying-intercept factor
``(1 | respondent)`` integrates out too (:mod:`hetfx.program.levels`); two or
more run the row-wise ``gaussian_rows`` program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hetfx.errors import OptionError
from hetfx.priors import Flat, Normal, Prior

if TYPE_CHECKING:
    from hetfx.families import Family

COEFFICIENTS = ("alpha", "beta", "a", "lambda")
# what the programs sample in place of sigma, phi, nu and the cutpoints (in the
# pilot's units), which idata has: left out of idata (sigma_theta_free, the
# coordinate of pooling_scale, stays, like theta_raw)
SAMPLING_SCALES = ("log_sigma", "log_phi", "log_nu_minus_one", "cutpoints_free")


def blocking_priors(priors: dict[str, Prior]) -> list[str]:
    """The coefficient priors that are neither normal nor flat."""
    return [
        f"{key}={type(priors[key]).__name__}"
        for key in COEFFICIENTS
        if key in priors and not isinstance(priors[key], Normal | Flat)
    ]


def check_collapsed(
    collapsed: bool | None,
    family: Family,
    priors: dict[str, Prior],
    factors: int = 0,
) -> bool:
    """Whether the model runs the collapsed program (gaussian family only; it
    integrates out at most one varying-intercept factor)."""
    if collapsed not in (None, True, False):
        raise OptionError(f"collapsed must be None, True or False, got {collapsed!r}.")
    if factors > 1:
        if collapsed:
            raise OptionError(
                "collapsed=True integrates out at most one varying intercept "
                f"(1 | group); the formula has {factors}, which run the row-wise "
                "gaussian program."
            )
        return False
    if family.program != "gaussian":
        if collapsed:
            raise OptionError(
                f"collapsed=True needs the gaussian family; {family.name!r} has no "
                "closed-form marginal likelihood."
            )
        return False
    blocking = blocking_priors(priors)
    if collapsed and blocking:
        raise OptionError(
            "collapsed=True needs normal or flat priors on alpha, beta, a and "
            f"lambda; got {', '.join(blocking)}."
        )
    return not blocking if collapsed is None else collapsed
