"""Render the Stan programs from the templates in ``stan/``.

One program per likelihood structure (like rstanarm's precompiled models):
bernoulli and binomial share ``binomial``, poisson and negative binomial share
``count``. Everything else is data, so a program serves every formula and dataset.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import jinja2

from hetfx.families import CLASSES, Family, get_family

PROGRAMS: dict[str, tuple[str, ...]] = {
    "gaussian": ("gaussian",),
    "gaussian_collapsed": ("gaussian",),
    "gaussian_rows": ("gaussian",),
    "binomial": ("bernoulli", "binomial"),
    "count": ("poisson", "negative_binomial"),
    "student_t": ("student_t",),
    "ordinal": ("ordinal",),
    "categorical": ("categorical",),
}


def stan_dir() -> Path:
    """The Stan templates: inside the wheel, or the source tree's ``stan/``."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "stan", package.parent / "stan"):
        if (candidate / "hetfx.stan.j2").is_file():
            return candidate
    raise FileNotFoundError("hetfx's Stan templates (stan/hetfx.stan.j2) are missing.")


def program_of(family: str | Family) -> str:
    """The program a family (or a program name) runs."""
    if isinstance(family, Family):
        return family.program
    if family in PROGRAMS:
        return family
    return get_family(family).program


def render(family: str | Family) -> str:
    """The Stan program for a family (or program name).

    Examples
    --------
    >>> "binomial_logit_glm" in render("bernoulli")
    True
    >>> render("poisson") == render("negative_binomial")
    True
    """
    return _render(program_of(family))


def has_alpha(program: str) -> bool:
    """Whether the program samples the intercept alpha: its families'
    ``Family.intercept`` (one value for all of them).

    Raises
    ------
    ValueError
        When the families of one program disagree.
    """
    values = {CLASSES[name].intercept for name in PROGRAMS[program]}
    if len(values) != 1:
        raise ValueError(f"The families of program {program!r} disagree on alpha.")
    return values.pop()


# programs with a template of their own; the others render stan/hetfx.stan.j2
STANDALONE_PROGRAMS = ("categorical", "gaussian_collapsed")


@functools.cache
def _render(program: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(stan_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    template = (
        f"{program}.stan.j2" if program in STANDALONE_PROGRAMS else "hetfx.stan.j2"
    )
    text = env.get_template(template).render(
        program=program,
        families=", ".join(PROGRAMS[program]),
        has_alpha=has_alpha(program),
    )
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:  # collapse the blank runs left by the macros
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def program_hash(code: str) -> str:
    """A short, stable hash of a program's text."""
    return hashlib.sha256(code.encode()).hexdigest()[:16]
