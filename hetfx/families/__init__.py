"""Likelihood families, one module per Stan program.

Each family is selected by name (``family="poisson"``) or by an object from this
package (``family=hetfx.families.poisson(exposure="days")``). Families that share
a likelihood structure share one compiled program (``program``), like rstanarm's
few precompiled models: bernoulli and binomial run ``binomial``; poisson and
negative binomial run ``count``. A new family is a class in the module of its
program (or a new module and template), registered in ``FAMILIES``.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from hetfx.errors import OptionError
from hetfx.families.base import Family, category_probs
from hetfx.families.binomial import Bernoulli, Binomial, bernoulli, binomial
from hetfx.families.categorical import Categorical, categorical
from hetfx.families.count import NegativeBinomial, Poisson, negative_binomial, poisson
from hetfx.families.gaussian import Gaussian, gaussian
from hetfx.families.ordinal import Ordinal, ordinal
from hetfx.families.student_t import StudentT, student_t

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
CLASSES: dict[str, type[Family]] = {
    "gaussian": Gaussian,
    "bernoulli": Bernoulli,
    "binomial": Binomial,
    "poisson": Poisson,
    "negative_binomial": NegativeBinomial,
    "student_t": StudentT,
    "ordinal": Ordinal,
    "categorical": Categorical,
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
        if type(family) is Family:  # saved by hetfx before families were classes
            values = {f.name: getattr(family, f.name) for f in fields(Family)}
            family = CLASSES[family.name](**values)
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


__all__ = [
    "ALIASES",
    "FAMILIES",
    "Bernoulli",
    "Binomial",
    "Categorical",
    "Family",
    "Gaussian",
    "NegativeBinomial",
    "Ordinal",
    "Poisson",
    "StudentT",
    "bernoulli",
    "binomial",
    "categorical",
    "category_probs",
    "gaussian",
    "get_family",
    "negative_binomial",
    "ordinal",
    "poisson",
    "student_t",
]
